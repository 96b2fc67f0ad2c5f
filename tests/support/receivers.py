"""Real local receivers for delivery tests (an HTTP server and an SMTP sink on 127.0.0.1),
and `statuspage worker` and `statuspage serve` processes to deliver to and to query."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session


@dataclass
class Request:
    """One request as the receiver saw it (header names lower-cased)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    status: int | None = None  # what we answered; None: hung up without answering
    #: False when the client went away before the whole request arrived (a worker killed
    #: between writing the headers and the body): never answered, never a delivery.
    complete: bool = True


@dataclass
class Reply:
    """What to answer: a status, headers and body; `delay` first; `hang_up` instead."""

    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    hang_up: bool = False


Responder = Callable[[Request], Reply]


class _CutDetector:
    """Wraps a connection's reader and notes when the client closed mid-request: a line
    without its newline, or fewer body bytes than announced."""

    def __init__(self, raw) -> None:
        self.raw = raw
        self.cut = False

    def readline(self, limit: int = -1) -> bytes:
        line = self.raw.readline(limit)
        if not line.endswith(b"\n") and len(line) != limit:
            self.cut = True  # end of stream inside a line, or before one
        return line

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        if 0 <= size != len(data):
            self.cut = True
        return data

    def __getattr__(self, name: str):
        return getattr(self.raw, name)


class HttpReceiver:
    """A threaded HTTP/1.1 server recording every request and answering via `respond`.

    A request the client did not finish sending (it was killed between the headers and the
    body, say) is recorded with `complete=False` and not answered: a real server would not
    pass it on either, and it must not count as delivered.
    """

    def __init__(self, respond: Responder | None = None) -> None:
        self.respond: Responder = respond or (lambda _request: Reply())
        self.requests: list[Request] = []
        #: Requests that have arrived, answered or not yet.
        self.arrived = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 5
            # Headers and body go out in separate writes: without this, Nagle's algorithm
            # and the client's delayed ACK add 40 ms to every response.
            disable_nagle_algorithm = True

            def setup(self) -> None:
                super().setup()
                self.rfile = _CutDetector(self.rfile)

            def handle_one_request(self) -> None:
                self.rfile.cut = False  # each request on a kept-alive connection afresh
                super().handle_one_request()

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                request = Request(
                    method="POST",
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length),
                    at=time.monotonic(),
                )
                request.complete = not self.rfile.cut
                with receiver.lock:
                    receiver.arrived += 1
                if not request.complete:
                    with receiver.lock:
                        receiver.requests.append(request)
                    self.close_connection = True
                    return
                reply = receiver.respond(request)
                if reply.delay:
                    time.sleep(reply.delay)
                with receiver.lock:
                    receiver.requests.append(request)
                if reply.hang_up:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                request.status = reply.status
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

            def handle_error(self, request, client_address) -> None:
                # A client killed mid-request (the crash test does that) is not our error.
                if not isinstance(sys.exc_info()[1], ConnectionError):
                    super().handle_error(request, client_address)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> HttpReceiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def __enter__(self) -> HttpReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def delivered(self) -> list[Request]:
        """Requests that arrived whole and were answered with a 2xx."""
        with self.lock:
            return [r for r in self.requests if r.status is not None and 200 <= r.status < 300]


def verify_webhook(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """Standard Webhooks verification, written here from the specification: one of the
    `webhook-signature` values is the HMAC of `id.timestamp.body` under the `whsec_` key."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers.get('webhook-id')}.{headers.get('webhook-timestamp')}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        part.startswith("v1,") and hmac.compare_digest(part[3:], expected)
        for part in headers.get("webhook-signature", "").split()
    )


@dataclass
class Mail:
    """One message the SMTP sink accepted."""

    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    peer: object


class SmtpSink:
    """An aiosmtpd server on 127.0.0.1 that keeps what it accepts; `answer` can refuse."""

    def __init__(self, answer: Callable[[Envelope], str | None] | None = None, **smtp_kwargs):
        self.messages: list[Mail] = []
        #: When each accepted message arrived (time.monotonic()).
        self.arrivals: list[float] = []
        self.answer = answer or (lambda _envelope: None)
        self.connections = 0
        sink = self

        class Handler:
            async def handle_EHLO(self, server, session: Session, envelope, hostname, responses):
                sink.connections += 1
                session.host_name = hostname
                return responses

            async def handle_DATA(self, server, session: Session, envelope: Envelope) -> str:
                refusal = sink.answer(envelope)
                if refusal:
                    return refusal
                sink.arrivals.append(time.monotonic())
                sink.messages.append(
                    Mail(
                        envelope.mail_from,
                        list(envelope.rcpt_tos),
                        envelope.original_content or b"",
                        session.peer,
                    )
                )
                return "250 Message accepted for delivery"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, **smtp_kwargs)

    def __enter__(self) -> SmtpSink:
        self.controller.start()
        # The controller's own readiness probe is not a client of ours.
        self.connections = 0
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


#: `statuspage worker`, run with this interpreter (no console script needed).
WORKER_COMMAND = (sys.executable, "-c", "from statuspage.cli import main; main()", "worker")


def write_worker_config(folder: Path, db_url: str, *, extra: str = "", **worker: int) -> Path:
    """A config file for worker processes: this test's database and quick worker settings."""
    settings = {"poll_seconds": 1, "batch_size": 5, "lease_seconds": 5, **worker}
    lines = [
        'secret_key = "worker-test"',
        "[site]",
        'url = "https://status.example.com"',
        "[database]",
        f'url = "{db_url}"',
        "[worker]",
        *(f"{key} = {value}" for key, value in settings.items()),
    ]
    path = folder / "worker.toml"
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


def start_worker(config: Path, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start `statuspage worker --config CONFIG` as a process of its own."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("STATUSPAGE_")}
    environ.update(env or {})
    with log.open("ab") as out:
        return subprocess.Popen(
            [*WORKER_COMMAND, "--config", str(config)],
            cwd=config.parent,
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_until_up(base: str, process: subprocess.Popen, log: Path, *, seconds: float) -> None:
    """Poll `base`/healthz until it answers; fail with the end of `log` if the process exits
    or `seconds` pass first (a deadline, not a sleep: loaded machines are slow)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(f"{base}/healthz", timeout=2).close()
            return
        except OSError as exc:
            if time.monotonic() > deadline or process.poll() is not None:
                written = log.read_text(errors="replace")[-4000:]
                raise AssertionError(f"{base} did not answer: {written}") from exc
            time.sleep(0.1)


@contextmanager
def serving(
    config: Path, folder: Path, output: list[str] | None = None, *, workers: int = 1
) -> Iterator[str]:
    """Run `statuspage serve` (one worker process, or `workers`) until the block ends; yield
    its base URL.

    `output`, when given, receives what the process wrote (stdout and stderr) once it ended.
    """
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATUSPAGE_")}
    command = [sys.executable, "-c", "from statuspage.cli import main; main()", "serve"]
    command += ["--port", str(port), "--workers", str(workers), "--config", str(config)]
    # A file, not a pipe: a server that logs a lot must never block on a pipe nobody reads.
    log = folder / f"serve-{port}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(command, cwd=folder, env=env, stdout=sink, stderr=sink)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, process, log, seconds=30)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)
        if output is not None:
            output.append(log.read_text(errors="replace"))
