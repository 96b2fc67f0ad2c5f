"""An SMTP sink (aiosmtpd) in a process of its own, as a mail relay is, for
bench/subscribers.py: it keeps only when each message arrived.

Run as `python bench/smtp_sink.py PORT`; prints "ready" once it listens, then answers one line
per command read on stdin: `count` (messages accepted so far), `times` (their arrival times,
time.monotonic(), which is the same clock in every process on Linux), `clear`.
"""

from __future__ import annotations

import sys
import time

from aiosmtpd.controller import Controller


class Handler:
    """Accepts every message and notes when it arrived."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.arrivals.append(time.monotonic())
        return "250 Message accepted for delivery"


def main() -> None:
    handler = Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=int(sys.argv[1]))
    controller.start()
    print("ready", flush=True)
    try:
        for line in sys.stdin:
            command = line.strip()
            if command == "count":
                answer = str(len(handler.arrivals))
            elif command == "times":
                answer = " ".join(repr(at) for at in handler.arrivals)
            elif command == "clear":
                handler.arrivals.clear()
                answer = "cleared"
            else:
                answer = f"unknown command {command!r}"
            print(answer, flush=True)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
