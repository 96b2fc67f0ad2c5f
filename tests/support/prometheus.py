"""The real Prometheus from Debian's packages (`prometheus`: the server and promtool) for the
metrics tests: a server scraping our processes, its HTTP API, and `promtool check metrics`.

Without the package the tests skip, saying so; under CI (CI=true, as .ci/run installs it) they
fail instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.receivers import free_port

PROMETHEUS = Path("/usr/bin/prometheus")
PROMTOOL = Path("/usr/bin/promtool")


def require(binary: Path) -> None:
    """Skip the test when `binary` is missing (fail under CI, where .ci/run installs it)."""
    if binary.exists():
        return
    reason = f"{binary} is missing: apt-get install prometheus (or run .ci/ensure-prometheus)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def check_metrics(text: bytes) -> subprocess.CompletedProcess:
    """`promtool check metrics` on an exposition; its exit status and complaints."""
    require(PROMTOOL)
    return subprocess.run(
        [str(PROMTOOL), "check", "metrics"], input=text, capture_output=True, timeout=60
    )


def _config(jobs: Mapping[str, str], token: str) -> str:
    """A prometheus.yml scraping each job's host:port every second, with the bearer token.
    (JSON is YAML.)"""
    scrape = [
        {
            "job_name": name,
            "scrape_interval": "1s",
            "scrape_timeout": "1s",
            "authorization": {"type": "Bearer", "credentials": token},
            "static_configs": [{"targets": [target]}],
        }
        for name, target in jobs.items()
    ]
    return json.dumps({"global": {"scrape_interval": "1s"}, "scrape_configs": scrape})


@contextmanager
def running(folder: Path, jobs: Mapping[str, str], token: str) -> Iterator[str]:
    """Run a Prometheus server scraping `jobs` (name -> host:port) until the block ends; yield
    the base URL of its HTTP API. Its log is folder/prometheus.log."""
    require(PROMETHEUS)
    config = folder / "prometheus.yml"
    config.write_text(_config(jobs, token))
    port = free_port()
    log = folder / "prometheus.log"
    command = [
        str(PROMETHEUS),
        f"--config.file={config}",
        f"--storage.tsdb.path={folder / 'prometheus-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=folder, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: process.poll() is not None or _ready(base),
            60,
            "Prometheus to be ready",
            log,
        )
        assert process.poll() is None, log.read_text(errors="replace")[-4000:]
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _ready(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/-/ready", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def query(base: str, expression: str) -> list[dict]:
    """The instant vector of `expression` through /api/v1/query: [{"metric": ..., "value": ...}]."""
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
    with urllib.request.urlopen(url, timeout=10) as response:
        answer = json.load(response)
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def value(base: str, expression: str) -> float | None:
    """The one value of `expression` (a sum, say), or None while it has none."""
    result = query(base, expression)
    return float(result[0]["value"][1]) if result else None


def wait_for_value(
    base: str, expression: str, accept: Callable[[float], bool], seconds: float, log: Path
) -> float:
    """Poll `expression` until its value is accepted; return it (fail after `seconds`)."""
    seen: list[float | None] = [None]

    def accepted() -> bool:
        seen[0] = value(base, expression)
        return seen[0] is not None and accept(seen[0])

    wait_until(accepted, seconds, lambda: f"{expression} (last value: {seen[0]})", log)
    assert seen[0] is not None
    return seen[0]


def wait_until(
    condition: Callable[[], bool], seconds: float, what: str | Callable[[], str], log: Path
) -> None:
    """Poll `condition` until it holds; fail after `seconds`, quoting the end of `log`."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            described = what() if callable(what) else what
            pytest.fail(f"waited {seconds} s for {described}\n{tail}")
        time.sleep(0.2)
