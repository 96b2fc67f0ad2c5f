"""Run a batch of sends on a thread pool, never more at once than each kind and host allow.

The caller's thread schedules: a send starts only when its kind (`smtp`, `webhook`...) and its
destination host both have room, so a slow host holds up only its own sends and no thread
waits on a limit. Nothing here touches the database; the caller records the results.
"""

from __future__ import annotations

import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

__all__ = ["Dispatcher", "Job"]


@dataclass(frozen=True)
class Job:
    """One send: its kind and host (the limits it counts against) and what to call."""

    kind: str
    host: str
    run: Callable[[], object]


class Dispatcher:
    """A thread pool with a bound per kind (`kind_limits`, else `default_limit`) and per host."""

    def __init__(
        self,
        *,
        kind_limits: Mapping[str, int],
        default_limit: int,
        per_host: int,
        name: str = "statuspage-send",
    ) -> None:
        self.kind_limits = dict(kind_limits)
        self.default_limit = max(1, default_limit)
        self.per_host = max(1, per_host)
        self.threads = max(1, sum(self.kind_limits.values()) + self.default_limit)
        self.name = name
        self._pool: ThreadPoolExecutor | None = None
        #: The most sends that were in flight at once, per host (for tests and the benchmark).
        self.peak_per_host: Counter[str] = Counter()

    def limit(self, kind: str) -> int:
        """How many sends of `kind` may be in flight at once."""
        return max(1, self.kind_limits.get(kind, self.default_limit))

    def run(
        self,
        jobs: Sequence[Job],
        *,
        deadline: float,
        stopped: Callable[[], bool] = lambda: False,
    ) -> list[object | None]:
        """Run `jobs`; return each one's result, None for those not started: `stopped()` or
        `deadline` (time.monotonic()) came first. A job that raised returns its exception."""
        results: list[object | None] = [None] * len(jobs)
        if not jobs:
            return results
        if len(jobs) == 1:
            # Not worth a thread: the common case of a quiet queue.
            if not stopped() and time.monotonic() < deadline:
                results[0] = _call(jobs[0])
            return results
        queues: OrderedDict[tuple[str, str], deque[int]] = OrderedDict()
        for index, job in enumerate(jobs):
            queues.setdefault((job.kind, job.host), deque()).append(index)
        by_kind: Counter[str] = Counter()
        by_host: Counter[str] = Counter()
        running: dict[Future[object], int] = {}
        pool = self._executor()
        while queues or running:
            if queues and (stopped() or time.monotonic() >= deadline):
                queues.clear()  # the rest is handed back unsent
            for (kind, host), queue in list(queues.items()):
                while queue and by_kind[kind] < self.limit(kind):
                    if host and by_host[host] >= self.per_host:
                        break
                    index = queue.popleft()
                    by_kind[kind] += 1
                    by_host[host] += 1
                    self.peak_per_host[host] = max(self.peak_per_host[host], by_host[host])
                    running[pool.submit(_call, jobs[index])] = index
                if not queue:
                    del queues[(kind, host)]
            if not running:
                continue
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                index = running.pop(future)
                job = jobs[index]
                by_kind[job.kind] -= 1
                by_host[job.host] -= 1
                results[index] = future.result()
        return results

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix=self.name)
        return self._pool

    def close(self) -> None:
        """Stop the threads (after the sends in flight, which `run` always waits for)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)


def _call(job: Job) -> object:
    try:
        return job.run()
    except Exception as exc:
        # The caller turns it into a retry; one odd message must not stop the batch.
        return exc
