"""Serving the app over HTTP: the one module that knows which server runs it (granian, WSGI).

Granian forks the worker processes; each builds its own app. Before that the master makes a
fresh folder for the workers' metrics (prometheus_client's multiprocess mode, removed again
when the server stops) and sets up logging, which the workers keep. Granian's own access log
stays off: the app writes its own (statuspage/web/observe.py).
"""

from __future__ import annotations

import ctypes
import importlib
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from statuspage import logs
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

#: prctl(2): the signal the kernel sends a process when its parent dies.
_PR_SET_PDEATHSIG = 1


def serve(
    *,
    host: str,
    port: int,
    workers: int,
    config_file: str | None = None,
    target: str = TARGET,
    log_format: str = "text",
) -> None:
    """Serve the app on host:port with `workers` processes until SIGTERM or SIGINT.

    `target` names the app factory ("module:function"); benchmarks pass their own.
    `log_format` is `[logging] format`, for the lines of the master, granian and the workers.
    """
    from granian import Granian
    from granian.constants import Interfaces

    from statuspage import metrics

    if config_file:
        # Workers build the app themselves, so the config travels through the environment.
        os.environ[CONFIG_ENV] = str(Path(config_file).resolve())
    logs.configure(format=log_format)
    # A folder of this run's own: counters of an earlier run (or of another server) never mix in.
    folder = tempfile.mkdtemp(prefix="statuspage-metrics-")
    metrics.use_multiprocess_dir(folder)
    server = Granian(
        target,
        address=host,
        port=port,
        workers=workers,
        blocking_threads=THREADS_PER_WORKER,
        interface=Interfaces.WSGI,
        websockets=False,
        working_dir=Path.cwd(),
        # A dead worker is replaced at once (granian exits 1 when one dies again within 5.5 s
        # of its replacement); without this, one dead worker made the master stop them all.
        # On SIGTERM the workers stop listening and finish the requests in hand first.
        respawn_failed_workers=True,
        # The app logs each request itself, with its request id (one line, not two).
        log_access=False,
        log_dictconfig=_granian_logging(log_format),
    )
    loader = partial(load_in_worker, master=os.getpid(), cwd=str(Path.cwd()), log_format=log_format)
    try:
        server.serve(target_loader=loader)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _granian_logging(log_format: str) -> dict[str, Any] | None:
    """Granian's logging config: its own, or with our JSON lines (its loggers do not propagate)."""
    if log_format != "json":
        return None
    json_lines = {"()": "statuspage.logs.JsonFormatter"}
    return {"formatters": {"generic": json_lines, "access": json_lines}}


def load_in_worker(target: str, *, master: int, cwd: str, log_format: str = "text") -> Callable:
    """Build the app in a worker process, once the worker is bound to die with its master."""
    from statuspage import metrics

    die_with_master(master)
    # Forked workers keep the master's logging; spawned ones (Python 3.14) start without it.
    logs.configure(format=log_format)
    metrics.mark_dead_at_exit()
    sys.path.insert(0, cwd)  # as granian does, so a target next to the working folder loads
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)()


def die_with_master(master: int) -> None:
    """Have the kernel send this worker SIGTERM when its master dies, even by SIGKILL."""
    # Otherwise orphans keep the port and the next `statuspage serve` fails with "Address
    # already in use". SIGTERM, not SIGKILL: an orphan stops listening at once and finishes
    # the requests in hand.
    # A forked worker inherits the master's handlers, which only flag the master's own loop:
    # until granian installs the worker's handlers, SIGTERM and SIGINT must simply end it.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, signal.SIG_DFL)
    if sys.platform != "linux":
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != master:
        # The master died before the prctl took effect: nobody will signal us.
        os._exit(1)


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
