"""The in-process scheduler: two replicas on one database, one runs each job; the other
takes over when the leader goes; a failing run is counted and the job keeps running."""

from __future__ import annotations

import asyncio

from prometheus_client import REGISTRY

from servicekit.db import Database
from servicekit.scheduler import Job, running_scheduler
from servicekit.settings import ServiceSettings
from servicekit.testing import eventually, unique_name


class Tally:
    def __init__(self) -> None:
        self.by_replica: dict[str, int] = {}

    def job(self, replica: str, name: str, interval: float = 0.05) -> Job:
        async def run() -> None:
            self.by_replica[replica] = self.by_replica.get(replica, 0) + 1

        return Job(name=name, interval_seconds=interval, run=run)


async def test_two_replicas_one_leader_per_job_and_takeover(kit_db_url: str) -> None:
    service = unique_name("sched")  # its own locks: parallel test sessions never compete
    tally = Tally()
    db_a, db_b = Database(kit_db_url), Database(kit_db_url)
    try:
        async with running_scheduler(
            db_a, service=service, jobs=[tally.job("a", "scan")]
        ) as replica_a:
            assert replica_a is not None

            async def a_leads() -> None:
                assert tally.by_replica.get("a", 0) >= 3

            await eventually(a_leads, timeout=10)
            async with running_scheduler(
                db_b, service=service, jobs=[tally.job("b", "scan")]
            ) as replica_b:
                assert replica_b is not None
                runs_of_a = tally.by_replica["a"]

                async def a_keeps_running() -> None:
                    assert tally.by_replica["a"] >= runs_of_a + 10

                await eventually(a_keeps_running, timeout=10)
                # b tried the lock many times meanwhile and never ran the job
                assert "b" not in tally.by_replica
                assert replica_b.leading == set()
                assert replica_a.leading == {"scan"}

                replica_a.stop()  # the leader goes away: its connection, and lock, too

                async def b_took_over() -> None:
                    assert tally.by_replica.get("b", 0) >= 3

                await eventually(b_took_over, timeout=10)
                assert replica_b.leading == {"scan"}
    finally:
        await db_a.dispose()
        await db_b.dispose()


async def test_each_job_has_its_own_leader_and_failures_are_counted(kit_db_url: str) -> None:
    service = unique_name("sched")
    attempts = 0

    async def failing() -> None:
        nonlocal attempts
        attempts += 1
        raise RuntimeError("Stripe is down")

    tally = Tally()
    db = Database(kit_db_url)
    labels = {"service": service, "scheduled_job": "reconcile", "outcome": "failure"}
    try:
        async with running_scheduler(
            db,
            service=service,
            jobs=[Job("reconcile", 0.05, failing), tally.job("a", "renewals")],
        ):

            async def both_ran_repeatedly() -> None:
                assert attempts >= 3  # a failure does not stop the job's next runs
                assert tally.by_replica.get("a", 0) >= 3

            await eventually(both_ran_repeatedly, timeout=10)
        failures = REGISTRY.get_sample_value("scheduler_job_runs_total", labels)
        assert failures is not None and failures >= 3
        successes = REGISTRY.get_sample_value(
            "scheduler_job_runs_total",
            {**labels, "scheduled_job": "renewals", "outcome": "success"},
        )
        assert successes is not None and successes >= 3
        count = REGISTRY.get_sample_value(
            "scheduler_job_duration_seconds_count",
            {"service": service, "scheduled_job": "renewals"},
        )
        assert count is not None and count >= 3
    finally:
        await db.dispose()


async def test_a_slow_run_is_not_overlapped(kit_db_url: str) -> None:
    service = unique_name("sched")
    concurrent = peak = runs = 0

    async def slow() -> None:
        nonlocal concurrent, peak, runs
        concurrent += 1
        peak = max(peak, concurrent)
        await asyncio.sleep(0.2)  # longer than the interval, on purpose
        concurrent -= 1
        runs += 1

    db = Database(kit_db_url)
    try:
        async with running_scheduler(db, service=service, jobs=[Job("slow", 0.02, slow)]):

            async def ran_twice() -> None:
                assert runs >= 2

            await eventually(ran_twice, timeout=10)
        assert peak == 1
    finally:
        await db.dispose()


def test_the_scheduler_is_on_by_default_but_off_in_the_test_environment() -> None:
    assert ServiceSettings(environment="development").run_scheduler is True
    assert (
        ServiceSettings(
            environment="production",
            jwt_secret="x" * 40,
            database_url="postgresql+asyncpg://svc:a-real-password@db.internal/svc",
            kafka_bootstrap_servers="kafka.internal:9093",
            smtp_url="smtp://relay.internal:25",
            mail_from="Support <support@example.com>",
        ).run_scheduler
        is True
    )
    assert ServiceSettings(environment="test").run_scheduler is False
    assert ServiceSettings(environment="test", run_scheduler=True).run_scheduler is True
