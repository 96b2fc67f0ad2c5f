"""Third-party API clients from PyPI, each in a virtualenv of its own (their pinned
dependencies would clash with ours): `make test` builds it, and a test builds it when missing."""

from __future__ import annotations

import fcntl
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Where `make test` puts it (Makefile: $(VENV)/clients).
CLIENTS = ROOT / ".venv" / "clients"
#: The OpenAPI-generated client of Atlassian's Statuspage API, as teams install it.
STATUSPAGE_CLIENT = "atlassian-statuspage==1.0.2"


def statuspage_client_python() -> Path:
    """The Python of the virtualenv that holds the Statuspage client, built if missing."""
    python = CLIENTS / "bin" / "python"
    marker = CLIENTS / ".installed-statuspage"
    if marker.exists():
        return python
    CLIENTS.parent.mkdir(parents=True, exist_ok=True)
    with (CLIENTS.parent / ".clients.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test processes build it once
        if not marker.exists():
            subprocess.run([sys.executable, "-m", "venv", str(CLIENTS)], check=True)
            subprocess.run(
                [str(python), "-m", "pip", "install", "-q", STATUSPAGE_CLIENT],
                check=True,
                timeout=600,
            )
            marker.touch()
    return python
