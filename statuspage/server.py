"""Serving the app over HTTP: the one module that knows which server runs it (granian, WSGI)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from statuspage.config import ENV_PREFIX
from statuspage.errors import StatuspageError

#: A factory each worker process calls to build its own app; it reads STATUSPAGE_CONFIG.
TARGET = "statuspage:create_app"
CONFIG_ENV = ENV_PREFIX + "CONFIG"


#: Python threads per worker process; add processes (`server.workers`) for more concurrency.
#: Measured with bench/serve.py (docs/deploy.md): rendering holds the GIL, so a second thread
#: adds little warm throughput, and after a publish every thread of a worker renders the same
#: changed page at once: p99 of `/` while publishing was 2-4 times worse with 2 or 5 threads.
THREADS_PER_WORKER = 1


def serve(
    *, host: str, port: int, workers: int, config_file: str | None = None, target: str = TARGET
) -> None:
    """Serve the app on host:port with `workers` processes until interrupted.

    `target` names the app factory ("module:function"); benchmarks pass their own.
    """
    from granian import Granian
    from granian.constants import Interfaces

    if config_file:
        # Workers build the app themselves, so the config travels through the environment.
        os.environ[CONFIG_ENV] = str(Path(config_file).resolve())
    server = Granian(
        target,
        address=host,
        port=port,
        workers=workers,
        blocking_threads=THREADS_PER_WORKER,
        interface=Interfaces.WSGI,
        factory=True,
        websockets=False,
        working_dir=Path.cwd(),
    )
    server.serve()


def check_address(host: str, port: int) -> None:
    """Raise StatuspageError unless we could listen on host:port (in use, no such address)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise StatuspageError(f"cannot listen on {host}:{port}: {reason}") from None


def url_for(host: str, port: int) -> str:
    """Return the base URL a browser would use for this address."""
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/"
