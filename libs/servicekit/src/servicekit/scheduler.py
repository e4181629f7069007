"""The in-process scheduler: a service's periodic jobs (scans, reconciliation, refreshes)
run on an interval in every replica, and a PostgreSQL advisory lock per job elects the one
replica that runs it.

Leadership is a *session* advisory lock held on one dedicated connection for as long as
the replica lives: the leader keeps running the job every interval, the others retry the
lock every interval, and when the leader dies (or its connection does) PostgreSQL drops
the lock and another replica takes over on its next try. The jobs themselves open their
own units of work; they must stay idempotent (each already is: it was a CronJob that
could overlap with a manual run).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from servicekit.db import Database

logger = logging.getLogger("servicekit.scheduler")

# Metric labels say ``scheduled_job``, not ``job``: Prometheus owns ``job`` (the scrape
# job) and would rename ours to ``exported_job``.
# First key of the two-key advisory lock: "scheduler". The relay uses 0x0B0C, and
# one-key (bigint) locks live in a separate key space, so nothing else can collide.
ADVISORY_NAMESPACE = 0x5C4D

SCHEDULER_RUNS = Counter(
    "scheduler_job_runs_total",
    "Scheduled job runs by outcome (success, failure)",
    ["service", "scheduled_job", "outcome"],
)
SCHEDULER_DURATION = Histogram(
    "scheduler_job_duration_seconds",
    "Duration of scheduled job runs",
    ["service", "scheduled_job"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
SCHEDULER_LEADER = Gauge(
    "scheduler_job_leader",
    "1 while this replica holds the job's leadership lock",
    ["service", "scheduled_job"],
)
SCHEDULER_LAST_SUCCESS = Gauge(
    "scheduler_job_last_success_timestamp_seconds",
    "Unix time of the job's last successful run in this replica",
    ["service", "scheduled_job"],
)
SCHEDULER_INTERVAL = Gauge(
    "scheduler_job_interval_seconds",
    "How often the job is meant to run",
    ["service", "scheduled_job"],
)


@dataclass(frozen=True)
class Job:
    """A periodic job: ``run`` is awaited every ``interval_seconds`` by the leader."""

    name: str
    interval_seconds: float
    run: Callable[[], Awaitable[Any]]


def lock_key(service: str, job: str) -> int:
    """The job's second advisory-lock key: a stable signed 32-bit hash (not Python's
    ``hash``, which changes per process, so replicas would not agree)."""
    digest = hashlib.sha256(f"{service}:{job}".encode()).digest()
    return int.from_bytes(digest[:4], "big", signed=True)


class Scheduler:
    """Runs each job in the replica that holds its lock; see the module docstring."""

    def __init__(self, db: Database, *, service: str, jobs: list[Job]) -> None:
        names = [job.name for job in jobs]
        if len(set(names)) != len(names):
            raise ValueError(f"job names must be unique: {names}")
        self.db = db
        self.service = service
        self.jobs = jobs
        self.leading: set[str] = set()
        self.runs: dict[str, int] = {job.name: 0 for job in jobs}
        self._stopping = asyncio.Event()
        self._conn: AsyncConnection | None = None
        self._next_due: dict[str, float] = {}
        self._running: dict[str, asyncio.Task[None]] = {}
        for job in jobs:
            SCHEDULER_INTERVAL.labels(service, job.name).set(job.interval_seconds)

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Until ``stop()``: keep the lock connection, try the locks of jobs due, run
        the jobs led. A lost connection loses every lock; it is reopened and retried."""
        backoff = 0.5
        try:
            while not self._stopping.is_set():
                try:
                    await self._tick()
                    backoff = 0.5
                    wait = self._seconds_to_next_due()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    logger.warning(
                        "scheduler of %s: %r; retrying in %.1fs", self.service, exc, backoff
                    )
                    await self._drop_connection()
                    wait = backoff
                    backoff = min(backoff * 2, 10.0)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), wait)
        finally:
            await self._finish()

    async def _tick(self) -> None:
        if self._conn is None:
            self._conn = await self.db.engine.connect()
            # Autocommit: the session lock must not live inside a transaction that a
            # later statement's failure could abort.
            await self._conn.execution_options(isolation_level="AUTOCOMMIT")
        else:
            await self._conn.execute(text("SELECT 1"))  # a dead connection holds no lock
        now = time.monotonic()
        for job in self.jobs:
            if self._next_due.get(job.name, 0.0) > now:
                continue
            self._next_due[job.name] = now + job.interval_seconds
            if job.name not in self.leading and not await self._try_lock(job):
                continue
            running = self._running.get(job.name)
            if running is not None and not running.done():
                continue  # a slow run is never overlapped by the next one
            self._running[job.name] = asyncio.create_task(
                self._run_job(job), name=f"scheduler-{job.name}"
            )

    async def _try_lock(self, job: Job) -> bool:
        assert self._conn is not None
        got = await self._conn.scalar(
            text("SELECT pg_try_advisory_lock(:namespace, :key)"),
            {"namespace": ADVISORY_NAMESPACE, "key": lock_key(self.service, job.name)},
        )
        if got:
            self.leading.add(job.name)
            SCHEDULER_LEADER.labels(self.service, job.name).set(1)
            logger.info("%s leads scheduled job %s", self.service, job.name)
        return bool(got)

    async def _run_job(self, job: Job) -> None:
        started = time.perf_counter()
        try:
            await job.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            SCHEDULER_RUNS.labels(self.service, job.name, "failure").inc()
            logger.exception("scheduled job %s of %s failed", job.name, self.service)
        else:
            SCHEDULER_RUNS.labels(self.service, job.name, "success").inc()
            SCHEDULER_LAST_SUCCESS.labels(self.service, job.name).set(time.time())
        finally:
            self.runs[job.name] += 1
            SCHEDULER_DURATION.labels(self.service, job.name).observe(time.perf_counter() - started)

    def _seconds_to_next_due(self) -> float:
        if not self._next_due:
            return 1.0
        return max(0.01, min(self._next_due.values()) - time.monotonic())

    async def _drop_connection(self) -> None:
        for name in self.leading:
            SCHEDULER_LEADER.labels(self.service, name).set(0)
        self.leading.clear()
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.invalidate()  # never back to the pool: it might hold locks
            with contextlib.suppress(Exception):
                await conn.close()

    async def _finish(self) -> None:
        tasks = [t for t in self._running.values() if not t.done()]
        if tasks:
            # A run in progress may finish (it is one transaction); then give up.
            _, pending = await asyncio.wait(tasks, timeout=10.0)
            for task in pending:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        await self._drop_connection()


@asynccontextmanager
async def running_scheduler(
    db: Database, *, service: str, jobs: list[Job], enabled: bool = True
) -> AsyncIterator[Scheduler | None]:
    """For a service's lifespan: the scheduler runs in the background while inside."""
    if not enabled or not jobs:
        yield None
        return
    scheduler = Scheduler(db, service=service, jobs=jobs)
    task = asyncio.create_task(scheduler.run(), name=f"{service}-scheduler")
    try:
        yield scheduler
    finally:
        scheduler.stop()
        try:
            await asyncio.wait_for(task, 15.0)
        except (TimeoutError, asyncio.CancelledError, Exception):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
