"""A second stack beside the first (issue 14): its own PostgreSQL, Kafka (KRaft) and
stripe-mock on free ports, started with the project's own ``deploy/local`` scripts and
run with the commands a user runs, with nothing but the override variables set
(``SUPPORTOPS_STATE_DIR``, ``SUPPORTOPS_*_PORT``, ``BILLING_PORT``; no ``*_DATABASE_URL``,
``KAFKA_BOOTSTRAP_SERVERS`` or ``STRIPE_API_BASE``).

What a user would notice if an override were lost somewhere: rows, topics, records or
Stripe calls landing on the first stack (the one this test session runs on), a second
stack's script adopting or stopping the first stack's processes, or ``print-urls.sh``
pointing at the wrong ports. One second stack per module (it costs a Kafka start).
"""

from __future__ import annotations

import asyncio
import os
import resource
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from servicekit.localstack import PG_PASSWORD, PG_USER, default_stripe_api_base
from servicekit.testing import (
    KAFKA_BOOTSTRAP,
    PG_ADMIN_URL,
    asyncpg_url,
    auth,
    eventually,
    free_ports,
    read_topic,
    send_events,
)
from supportops_events.samples import sample

pytestmark = [pytest.mark.infra, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
LOCAL = ROOT / "deploy" / "local"
VENV_BIN = ROOT / ".venv" / "bin"
# Addresses a user sets only for infrastructure elsewhere: the second stack must work
# without them, and the test session's own (and its ports and state dirs) must not leak
# into it. What is not an address stays (SUPPORTOPS_PG_BIN, JAVA_HOME, ...).
EXPLICIT = ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "STRIPE_API_BASE", "STATE_DIR")


def user_env() -> dict[str, str]:
    """This process's environment without any address, port, state dir or Kafka setting."""
    return {
        k: v
        for k, v in os.environ.items()
        if not any(x in k for x in EXPLICIT)
        and not k.endswith("_PORT")
        and k != "SUPPORTOPS_PG_ADMIN_URL"
        and not k.startswith(("OTEL_", "KAFKA_", "ENVIRONMENT"))
    }


BILLING = str(VENV_BIN / "billing-service")
PLAN = "team-monthly"  # one of the plans `seed-plans` creates


def pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in {"Z", "X"}


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def cpu_seconds(pid: int) -> float:
    """User + system CPU a running process has used (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class SecondStack:
    state_dir: Path
    pg_port: int
    kafka_port: int
    kafka_controller_port: int
    stripe_port: int
    stripe_https_port: int
    billing_port: int
    mailpit_smtp_port: int
    mailpit_ui_port: int
    prefix: str = field(default_factory=lambda: f"stack2{uuid.uuid4().hex[:8]}.")
    outputs: dict[str, str] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    commands_cpu: float = 0.0

    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def billing_url(self) -> str:
        return f"http://127.0.0.1:{self.billing_port}"

    def pg_url(self, database: str) -> str:
        return f"postgresql://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{self.pg_port}/{database}"

    def env(self) -> dict[str, str]:
        env = user_env()
        env.update(
            {
                "SUPPORTOPS_STATE_DIR": str(self.state_dir),
                "SUPPORTOPS_PG_PORT": str(self.pg_port),
                "SUPPORTOPS_KAFKA_PORT": str(self.kafka_port),
                "SUPPORTOPS_KAFKA_CONTROLLER_PORT": str(self.kafka_controller_port),
                "SUPPORTOPS_STRIPE_MOCK_PORT": str(self.stripe_port),
                "SUPPORTOPS_STRIPE_MOCK_HTTPS_PORT": str(self.stripe_https_port),
                "SUPPORTOPS_MAILPIT_SMTP_PORT": str(self.mailpit_smtp_port),
                "SUPPORTOPS_MAILPIT_UI_PORT": str(self.mailpit_ui_port),
                # a busy 2-core machine: the broker's JVM may take a while
                "SUPPORTOPS_KAFKA_START_TIMEOUT": "180",
                "KAFKA_HEAP_OPTS": "-Xms128m -Xmx512m",
                "BILLING_PORT": str(self.billing_port),
                "KAFKA_TOPIC_PREFIX": self.prefix,
                "ENVIRONMENT": "development",
            }
        )
        return env

    def run(self, *command: str, timeout: float = 300) -> str:
        done = subprocess.run(
            command,
            env=self.env(),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        output = done.stdout + done.stderr
        assert done.returncode == 0, f"{' '.join(command)} failed ({done.returncode}):\n{output}"
        return output

    async def arun(self, *command: str, timeout: float = 300) -> str:
        return await asyncio.to_thread(self.run, *command, timeout=timeout)

    def recorded_pids(self) -> dict[str, int]:
        """The pid files the scripts wrote for this stack."""
        out = {}
        for path in (self.state_dir / "run").glob("*.pid"):
            text = path.read_text().strip()
            if text.isdigit():
                out[path.stem] = int(text)
        return out

    def stop(self) -> None:
        """What a user runs (`make down`'s scripts, with this stack's variables)."""
        self.run(str(LOCAL / "services.sh"), "stop", timeout=120)
        self.run(str(LOCAL / "infra.sh"), "stop", timeout=180)


async def start_second_stack(stack: SecondStack) -> None:
    """What a user runs for a second stack (README, "Run a second stack"), with its
    variables: the three parts of `make infra-up`, billing's `migrate`, `seed-plans` and
    `create-topics`, then `services.sh start billing-service` (its API and its workers in
    one process). What needs only PostgreSQL and stripe-mock runs while the broker's JVM
    starts."""
    started, cpu = time.monotonic(), children_cpu_seconds()

    async def step(name: str, *command: str, timeout: float = 300) -> None:
        t0 = time.monotonic()
        stack.outputs[name] = await stack.arun(*command, timeout=timeout)
        stack.timings[name] = time.monotonic() - t0

    kafka = asyncio.create_task(step("kafka.sh start", str(LOCAL / "kafka.sh"), "start"))
    try:
        await asyncio.gather(
            step("postgres.sh start", str(LOCAL / "postgres.sh"), "start"),
            step("stripe-mock.sh start", str(LOCAL / "stripe-mock.sh"), "start"),
            step("mailpit.sh start", str(LOCAL / "mailpit.sh"), "start"),
        )
        await step("migrate", BILLING, "migrate")
        await step("seed-plans", BILLING, "seed-plans")
        await kafka
        await step("create-topics", BILLING, "create-topics")
    finally:
        # a failed step must not leave the broker's start running unobserved
        await asyncio.gather(kafka, return_exceptions=True)
        stack.pids.update(stack.recorded_pids())
    await step(
        "services.sh start", str(LOCAL / "services.sh"), "start", "billing-service", timeout=180
    )
    stack.pids.update(stack.recorded_pids())
    stack.timings["total"] = time.monotonic() - started
    stack.commands_cpu = children_cpu_seconds() - cpu


def kill_leftovers(stack: SecondStack) -> None:
    """Only when its scripts could not stop it: the processes of this stack (recognised by
    its state dir or ports on their command line, never by a pid file alone)."""
    ours = (
        str(stack.state_dir),
        f":{stack.stripe_port} ",
        f":{stack.mailpit_smtp_port} ",
        f"--port {stack.billing_port}",
    )
    for pid in {*stack.pids.values(), *stack.recorded_pids().values()}:
        if pid_alive(pid) and any(marker in cmdline(pid) for marker in ours):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
async def second_stack() -> AsyncIterator[SecondStack]:
    ports = free_ports(8)
    stack = SecondStack(
        state_dir=Path(tempfile.mkdtemp(prefix="supportops-stack2-")),
        pg_port=ports[0],
        kafka_port=ports[1],
        kafka_controller_port=ports[2],
        stripe_port=ports[3],
        stripe_https_port=ports[4],
        billing_port=ports[5],
        mailpit_smtp_port=ports[6],
        mailpit_ui_port=ports[7],
    )
    try:
        await start_second_stack(stack)
        print("second stack start-up (s):", {k: round(v, 1) for k, v in stack.timings.items()})
        yield stack
    finally:
        try:
            await asyncio.to_thread(stack.stop)
        except (AssertionError, subprocess.TimeoutExpired):
            kill_leftovers(stack)
        shutil.rmtree(stack.state_dir, ignore_errors=True)


async def topics_on(bootstrap: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def fetchval(url: str, query: str, *args: object) -> object:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        return await conn.fetchval(query, *args)
    finally:
        await conn.close()


async def rows_on_stack_1(database: str, table: str, query: str, *args: object) -> int:
    """Rows matching on the first stack's database (0 when it has no such table)."""
    conn = await asyncpg.connect(asyncpg_url(database), timeout=10)
    try:
        if not await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", table):
            return 0
        return int(await conn.fetchval(query, *args))
    finally:
        await conn.close()


async def test_the_second_stack_keeps_its_own_files_and_processes(
    second_stack: SecondStack,
) -> None:
    """Its pid, lock, log and data files are under its state dir, so its scripts can
    neither adopt nor stop the first stack's processes (which live under .local)."""
    pids = second_stack.pids
    assert {"postgres", "kafka", "stripe-mock", "billing-service"} <= set(pids), pids
    for name, pid in pids.items():
        assert pid_alive(pid), f"{name} (pid {pid}) is not running"
    state = str(second_stack.state_dir)
    # the data-owning processes run on the second stack's data and config
    assert f"-D {state}/pg/data" in cmdline(pids["postgres"])
    assert f"{state}/kafka/server.properties" in cmdline(pids["kafka"])
    assert f"127.0.0.1:{second_stack.stripe_port}" in cmdline(pids["stripe-mock"])
    assert f"--port {second_stack.billing_port}" in cmdline(pids["billing-service"])
    for log in ("postgres.log", "kafka.log", "stripe-mock.log", "billing-service.log"):
        assert (second_stack.state_dir / "logs" / log).stat().st_size > 0, log
    # and on the second stack's ports
    assert await fetchval(second_stack.pg_url("postgres"), "SELECT current_setting('port')") == str(
        second_stack.pg_port
    )
    # its status sees its own parts only
    status = await second_stack.arun(str(LOCAL / "infra.sh"), "status")
    assert f"127.0.0.1:{second_stack.pg_port}" in status
    assert f"127.0.0.1:{second_stack.kafka_port}" in status
    assert f"127.0.0.1:{second_stack.stripe_port}" in status


PARTS = {
    "SUPPORTOPS_PG_PORT": "postgres",
    "SUPPORTOPS_KAFKA_PORT": "kafka",
    "SUPPORTOPS_STRIPE_MOCK_PORT": "stripe-mock",
}


def first_stack_ports() -> dict[str, str]:
    """The ports of the parts of the stack this session runs on (the shared one) that
    run on this machine (an external one, e.g. KAFKA_BOOTSTRAP_SERVERS elsewhere, is not
    a stack's process here)."""
    kafka = urlsplit(f"kafka://{KAFKA_BOOTSTRAP.split(',')[0]}")
    addresses = {
        "SUPPORTOPS_PG_PORT": urlsplit(PG_ADMIN_URL),
        "SUPPORTOPS_KAFKA_PORT": kafka,
        "SUPPORTOPS_STRIPE_MOCK_PORT": urlsplit(
            os.environ.get("STRIPE_API_BASE") or default_stripe_api_base()
        ),
    }
    return {
        name: str(url.port)
        for name, url in addresses.items()
        if url.hostname in {"127.0.0.1", "localhost"} and url.port
    }


def assert_not_taken_for_its_own(ports: dict[str, str], state_dir: Path) -> None:
    """`infra.sh status` of a stack in ``state_dir`` on ``ports``, which another stack's
    processes hold: it must call them someone else's and record no pid (so its `stop`
    could never stop them). Only `status` is run, never `stop`."""
    env = {**user_env(), **ports, "SUPPORTOPS_STATE_DIR": str(state_dir)}
    done = subprocess.run(
        [str(LOCAL / "infra.sh"), "status"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 3, done.stdout + done.stderr
    for part in (PARTS[name] for name in ports):
        line = next(x for x in done.stdout.splitlines() if x.startswith(f"{part}:"))
        assert line.startswith(f"{part}: stopped (but "), line
        assert "in use by" in line, line
    assert list(state_dir.rglob("*.pid")) == []


def test_a_stack_that_forgot_its_ports_never_takes_the_first_stacks_processes(
    tmp_path: Path,
) -> None:
    """A second state dir with the first stack's ports (a forgotten override)."""
    assert first_stack_ports(), "the first stack runs nothing on this machine"
    assert_not_taken_for_its_own(first_stack_ports(), tmp_path / "forgot-ports")


def test_a_stack_that_forgot_its_ports_never_takes_the_second_stacks_processes(
    second_stack: SecondStack, tmp_path: Path
) -> None:
    """The same against the second stack, which runs this checkout's very binaries
    (stripe-mock's command line is the same for every stack: only its working directory,
    the stack's state dir, tells them apart)."""
    ports = {
        "SUPPORTOPS_PG_PORT": str(second_stack.pg_port),
        "SUPPORTOPS_KAFKA_PORT": str(second_stack.kafka_port),
        "SUPPORTOPS_STRIPE_MOCK_PORT": str(second_stack.stripe_port),
    }
    assert_not_taken_for_its_own(ports, tmp_path / "forgot-ports")


async def test_migrate_topics_and_seed_plans_land_on_the_second_stack_only(
    second_stack: SecondStack,
) -> None:
    # migrate: billing's schema on PostgreSQL #2
    url = second_stack.pg_url("billing")
    assert await fetchval(url, "SELECT to_regclass('plans') IS NOT NULL")
    assert await fetchval(url, "SELECT count(*) FROM alembic_version") == 1
    # seed-plans: the plans in billing #2, each finished on stripe-mock #2
    on_stripe = await fetchval(
        url,
        "SELECT count(*) FROM plans WHERE stripe_product_id IS NOT NULL "
        "AND stripe_price_id IS NOT NULL",
    )
    assert isinstance(on_stripe, int) and on_stripe >= 2, second_stack.outputs["seed-plans"]
    stripe_log = (second_stack.state_dir / "logs" / "stripe-mock.log").read_text()
    assert stripe_log.count("Request: POST /v1/products") >= on_stripe
    assert stripe_log.count("Request: POST /v1/prices") >= on_stripe
    # create-topics: the prefixed topics on broker #2 and none on the first broker
    second = await topics_on(second_stack.kafka_bootstrap)
    assert {
        f"{second_stack.prefix}billing.events",
        f"{second_stack.prefix}onboarding.events",
        f"{second_stack.prefix}billing-service.dlq",
    } <= second, second
    first = await topics_on(KAFKA_BOOTSTRAP)
    assert not {t for t in first if t.startswith(second_stack.prefix)}


async def test_a_new_tenant_on_the_second_stack_is_billed_there_only(
    second_stack: SecondStack,
) -> None:
    """onboarding's `tenant.created` on broker #2 → billing's worker subscribes the tenant
    on stripe-mock #2 and records it in PostgreSQL #2 → its API shows it → the outbox
    relay publishes `subscription.created` on broker #2. None of it on the first stack."""
    tenant_id = str(uuid.uuid4())
    created = sample(
        "tenant.created",
        tenant_id=tenant_id,
        plan_code=PLAN,
        seats=4,
        collection_method="charge_automatically",
    )
    await send_events(
        [created],
        prefix=second_stack.prefix,
        source="onboarding-service",
        bootstrap_servers=second_stack.kafka_bootstrap,
    )
    async with httpx.AsyncClient(base_url=second_stack.billing_url, timeout=10) as client:

        async def synced() -> dict[str, object]:
            listed = await client.get(
                "/v1/subscriptions", params={"tenant_id": tenant_id}, headers=auth("agent")
            )
            assert listed.status_code == 200, listed.text
            items = listed.json()["items"]
            assert items and items[0]["sync_state"] == "synced", items
            return dict(items[0])

        subscription = await eventually(synced, timeout=90, interval=0.5)
    assert (subscription["plan_code"], subscription["seats"]) == (PLAN, 4)
    assert str(subscription["stripe_subscription_id"]).startswith("sub_")

    records = await read_topic(
        f"{second_stack.prefix}billing.events",
        until=lambda read: any(
            e.type == "subscription.created" and e.tenant_id == tenant_id for e in read
        ),
        timeout=60,
        bootstrap_servers=second_stack.kafka_bootstrap,
    )
    assert [e.type for e in records if e.tenant_id == tenant_id].count("subscription.created") == 1
    assert (
        await fetchval(
            second_stack.pg_url("billing"),
            "SELECT count(*) FROM subscriptions WHERE tenant_id::text = $1",
            tenant_id,
        )
        == 1
    )
    stripe_log = (second_stack.state_dir / "logs" / "stripe-mock.log").read_text()
    assert "Request: POST /v1/subscriptions" in stripe_log
    assert tenant_id in stripe_log  # the subscription's metadata names the tenant
    # nothing of it on the first stack: no row, no topic of the second stack's prefix
    on_first = await rows_on_stack_1(
        "billing",
        "subscriptions",
        "SELECT count(*) FROM subscriptions WHERE tenant_id::text = $1",
        tenant_id,
    )
    assert on_first == 0
    assert not {t for t in await topics_on(KAFKA_BOOTSTRAP) if t.startswith(second_stack.prefix)}


async def test_print_urls_prints_the_second_stack(second_stack: SecondStack) -> None:
    out = await second_stack.arun(str(ROOT / "scripts" / "print-urls.sh"), timeout=60)
    lines = out.splitlines()

    def line(start: str) -> str:
        return next(x for x in lines if x.strip().startswith(start))

    assert line("Kafka").split()[1:] == [second_stack.kafka_bootstrap, "(up)"]
    assert f"127.0.0.1:{second_stack.pg_port} (up)" in line("PostgreSQL")
    assert f"@127.0.0.1:{second_stack.pg_port}/billing" in line("billing ")
    assert line("stripe-mock").split()[1:] == [
        f"http://127.0.0.1:{second_stack.stripe_port}",
        "(up)",
    ]
    billing = line("billing-service")
    assert f"{second_stack.billing_url}/readyz" in billing and billing.endswith(" up")
    assert ":5432/" not in out and "127.0.0.1:9092" not in out and ":12111" not in out


async def test_stopping_the_second_stack_leaves_the_first_running(
    second_stack: SecondStack,
) -> None:
    pids = dict(second_stack.pids)
    daemons_cpu = sum(cpu_seconds(pid) for pid in pids.values())
    print(
        f"second stack CPU: commands {second_stack.commands_cpu:.1f} s, daemons {daemons_cpu:.1f} s"
    )
    await asyncio.to_thread(second_stack.stop)
    for name, pid in pids.items():
        assert not pid_alive(pid), f"{name} (pid {pid}) still running after stop"
    assert second_stack.recorded_pids() == {}
    # the first stack still answers
    assert await fetchval(PG_ADMIN_URL, "SELECT 1") == 1
    await topics_on(KAFKA_BOOTSTRAP)  # raises when the broker does not answer
