"""Request-path benchmark: what one request costs in our services against the leanest
apps the same libraries allow, measured side by side in one run.

    make bench-request-path     (or: uv run python -m benchmarks.request_path)

Subjects, each a uvicorn process of its own (one worker), driven over HTTP from here:

- ``bare``: FastAPI with one ``/healthz`` route and nothing else;
- ``orm``: FastAPI + SQLAlchemy async inserting a ticket row and an outbox row in one
  transaction (``POST /v1/tickets``) and reading one ticket (``GET /v1/tickets/{id}``);
- ``asyncpg``: the same insert and read with raw asyncpg, no ORM;
- ``ticket``: the ticket-service (relay and consumers off: the request path is measured).

Reported: capacity (closed loop, ``--concurrency`` clients for ``--seconds``), CPU per
request of the serving process (from ``/proc``, at a fixed ``--rate`` below capacity,
which is steadier than throughput on a shared machine), the SQL statements per request
of the ticket-service's create, get and list (counted in-process with a SQLAlchemy event
listener), and the idle memory (RSS) of each service against a bare FastAPI process.
"""

# ruff: noqa: ASYNC220 - starting the subjects (uvicorn) once per run blocks nothing measured
from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from benchmarks.targets import verdict
from servicekit.testing import auth, drop_database, migrated_database, topic_prefix

if TYPE_CHECKING:
    from fastapi import FastAPI

ROOT = Path(__file__).resolve().parents[1]
TICKET_MIGRATIONS = ROOT / "services/ticket-service/src/ticket_service/migrations"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- the baseline apps (imported by uvicorn in the subjects' processes) ---------------------


def bare_app() -> Any:
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _ticket_values(body: dict[str, Any]) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "id": uuid.uuid4(),
        "tenant_id": body["tenant_id"],
        "requester_email": body["requester"]["email"],
        "channel": body["channel"],
        "subject": body["subject"],
        "body": body["body"],
        "status": "new",
        "priority": "normal",
        "tags": [],
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }


def orm_app() -> Any:
    """The floor for an ORM service: a ticket and an outbox row in one transaction."""
    from fastapi import FastAPI
    from sqlalchemy import insert, select
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    from servicekit.tables import outbox
    from ticket_service.models import Ticket

    engine = create_async_engine(os.environ["BENCH_DATABASE_URL"], pool_size=10)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    app = FastAPI()

    @app.post("/v1/tickets", status_code=201)
    async def create(body: dict[str, Any]) -> dict[str, Any]:
        values = _ticket_values(body)
        async with sessions.begin() as session:
            session.add(Ticket(**values))
            await session.flush()
            await session.execute(
                insert(outbox).values(
                    event_id=str(uuid.uuid4()),
                    event_type="ticket.created",
                    topic="tickets.events",
                    key=values["tenant_id"],
                    headers=[],
                    payload=b"{}",
                )
            )
        return {"id": str(values["id"])}

    @app.get("/v1/tickets/{ticket_id}")
    async def get(ticket_id: uuid.UUID) -> dict[str, Any]:
        async with sessions() as session:
            ticket = (await session.scalars(select(Ticket).where(Ticket.id == ticket_id))).one()
            return {"id": str(ticket.id), "subject": ticket.subject, "status": ticket.status}

    return app


def asyncpg_app() -> Any:
    """The floor for any Python service: raw asyncpg, two inserts in one transaction."""
    import asyncpg
    from fastapi import FastAPI

    pool: dict[str, asyncpg.Pool] = {}
    dsn = os.environ["BENCH_DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool["db"] = await asyncpg.create_pool(dsn, min_size=2, max_size=10)
        yield
        await pool["db"].close()

    app = FastAPI(lifespan=lifespan)

    @app.post("/v1/tickets", status_code=201)
    async def create(body: dict[str, Any]) -> dict[str, Any]:
        v = _ticket_values(body)
        async with pool["db"].acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO tickets (id, tenant_id, requester_email, channel, subject, body,"
                " status, priority, tags, version, created_at, updated_at)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                *v.values(),
            )
            await conn.execute(
                "INSERT INTO outbox (event_id, event_type, topic, key, headers, payload)"
                " VALUES ($1, 'ticket.created', 'tickets.events', $2, '[]', '{}')",
                str(uuid.uuid4()),
                v["tenant_id"],
            )
        return {"id": str(v["id"])}

    @app.get("/v1/tickets/{ticket_id}")
    async def get(ticket_id: uuid.UUID) -> dict[str, Any]:
        async with pool["db"].acquire() as conn:
            row = await conn.fetchrow(
                "SELECT id, subject, status FROM tickets WHERE id = $1", ticket_id
            )
        return {"id": str(row["id"]), "subject": row["subject"], "status": row["status"]}

    return app


# --- running subjects -------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Subject:
    name: str
    process: subprocess.Popen[bytes]
    base_url: str

    def cpu_seconds(self) -> float:
        """The process's CPU time so far (all its threads, ended ones too), in
        nanoseconds: its POSIX CPU-time clock, the id glibc's ``clock_getcpuclockid(pid)``
        returns (``CPUCLOCK_SCHED`` of the process, as Linux encodes it). ``utime + stime``
        from ``/proc/<pid>/stat`` (the fallback) count 10 ms ticks, as coarse as a
        round's whole ``/healthz`` CPU: ±1 tick on each side was up to ±15 % of a ratio."""
        with contextlib.suppress(OSError):
            return time.clock_gettime_ns(((~self.process.pid) << 3) | 2) / 1e9
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime

    def rss_mib(self) -> float:
        return self.status_mib("VmRSS")["VmRSS"]

    def status_mib(self, *fields: str) -> dict[str, float]:
        """Memory fields of ``/proc/<pid>/status`` (``VmRSS``, ``RssAnon``, ``RssFile``…)
        in MiB, read in one pass; NaN for one the kernel does not report."""
        found = dict.fromkeys(fields, float("nan"))
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in found:
                found[key] = int(value.split()[0]) / 1024
        return found


@contextlib.asynccontextmanager
async def serve(name: str, factory: str, env: dict[str, str]) -> AsyncIterator[Subject]:
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            factory,
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        cwd=ROOT,
    )
    subject = Subject(name, process, f"http://127.0.0.1:{port}")
    try:
        async with httpx.AsyncClient(base_url=subject.base_url) as client:
            for _ in range(900):  # a shared, busy machine can take a while
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/healthz")).status_code < 500:
                        break
                await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # let start-up work (Kafka boot, imports) settle
        yield subject
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


Send = Callable[[httpx.AsyncClient, int], Any]


async def capacity(subject: Subject, send: Send, *, concurrency: int, seconds: float) -> float:
    """Requests per second with ``concurrency`` clients each sending back to back."""
    done = 0
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=subject.base_url, limits=limits) as client:
        for n in range(3):
            await send(client, -n - 1)  # warm up
        stop = time.perf_counter() + seconds

        async def worker(w: int) -> None:
            nonlocal done
            n = w * 1_000_000
            while time.perf_counter() < stop:
                response = await send(client, n)
                if response.status_code >= 400:
                    raise RuntimeError(f"{subject.name}: {response.status_code} {response.text}")
                done += 1
                n += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        return done / (time.perf_counter() - started)


async def cpu_per_request(subject: Subject, send: Send, *, rate: float, seconds: float) -> float:
    """Milliseconds of the serving process's CPU per request at a fixed arrival rate."""
    async with httpx.AsyncClient(base_url=subject.base_url) as client:
        loop = asyncio.get_running_loop()
        total = int(rate * seconds)
        before = subject.cpu_seconds()
        start = loop.time()

        async def one(n: int) -> None:
            await asyncio.sleep(max(0.0, start + n / rate - loop.time()))
            await send(client, 10_000_000 + n)

        await asyncio.gather(*(one(n) for n in range(total)))
        return (subject.cpu_seconds() - before) / total * 1000


# Onboarding's tenant ids are UUIDs, and the ticket-service opens tickets only for the
# tenants it has heard of (an unknown one is a 422): ``seed_tenants`` makes these known.
BENCH_TENANTS = [
    str(uuid.uuid5(uuid.UUID("5ca1e000-0000-4000-8000-000000000015"), f"bench-{n}"))
    for n in range(50)
]


async def seed_tenants(url: str) -> None:
    """The benchmark's tenants as the ticket-service's accounts (as if onboarding had
    announced them); idempotent."""
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.executemany(
            "INSERT INTO accounts (tenant_id, company_name, plan_tier, tenant_status,"
            " domains, cancel_at_period_end) VALUES ($1, $2, 'business', 'active', $3, false)"
            " ON CONFLICT (tenant_id) DO NOTHING",
            [(t, f"Bench {n}", [f"{t}.example.com"]) for n, t in enumerate(BENCH_TENANTS)],
        )
    finally:
        await conn.close()


def _ticket_body(n: int) -> dict[str, Any]:
    return {
        "tenant_id": BENCH_TENANTS[n % 50],
        "requester": {"email": f"pat{n}@example.com", "name": "Pat"},
        "channel": "email",
        "subject": f"Invoice {n} charged twice",
        "body": "Hello, our card was charged twice for the same invoice this month.",
    }


STAFF = auth("agent", subject="bench-agent")


def post_ticket(headers: dict[str, str] | None = None) -> Send:
    return lambda c, n: c.post("/v1/tickets", json=_ticket_body(n), headers=headers or {})


def get_ticket(ticket_id: str, headers: dict[str, str] | None = None) -> Send:
    return lambda c, n: c.get(f"/v1/tickets/{ticket_id}", headers=headers or {})


def healthz() -> Send:
    return lambda c, n: c.get("/healthz")


# --- statement counts (in-process) ------------------------------------------------------------


def ticket_app(url: str) -> FastAPI:
    """The ticket-service in-process, as the request-path, call-count and scale benchmarks
    measure it: the relay and consumers are not what is measured; their work would only
    add noise (the request path and its database are)."""
    from ticket_service.config import TicketSettings
    from ticket_service.main import create_app

    return create_app(
        TicketSettings(
            database_url=url,
            kafka_topic_prefix=topic_prefix(),
            environment="test",
            run_relay=False,
            run_consumers=False,
            log_level="WARNING",
        )
    )


async def statements_per_request(url: str) -> dict[str, tuple[int, int]]:
    """SQL statements and round trips to PostgreSQL (BEGIN and COMMIT included; a
    statement's Parse, once per pooled connection, left out) per request."""
    from servicekit.db import Database
    from servicekit.testing import app_client, count_round_trips, count_statements

    app = ticket_app(url)
    await seed_tenants(url)
    counts: dict[str, tuple[int, int]] = {}
    async with app_client(app) as client:
        db: Database = app.state.db

        async def count(what: str, send: Awaitable[Any]) -> Any:
            with count_statements(db) as sent, count_round_trips() as trips:
                response = await send
            counts[what] = (len(sent), len([t for t in trips if t.call != "prepare"]))
            return response

        await client.post("/v1/tickets", json=_ticket_body(0), headers=STAFF)  # warm caches
        created = await count(
            "POST /v1/tickets", client.post("/v1/tickets", json=_ticket_body(1), headers=STAFF)
        )
        ticket_id = created.json()["id"]
        # warm the read pool too (its first connection, the page's statement prepared)
        await client.get(f"/v1/tickets/{ticket_id}", headers=STAFF)
        await client.get("/v1/tickets?limit=50", headers=STAFF)
        await client.get("/v1/tickets?limit=50&q=invoice", headers=STAFF)
        await count("GET /v1/tickets/{id}", client.get(f"/v1/tickets/{ticket_id}", headers=STAFF))
        await count("GET /v1/tickets", client.get("/v1/tickets?limit=50", headers=STAFF))
        await count(
            "GET /v1/tickets?q=", client.get("/v1/tickets?limit=50&q=invoice", headers=STAFF)
        )
    return counts


# --- memory --------------------------------------------------------------------------------


SERVICES = {
    "ticket-service": ("ticket_service.main:create_app", "TICKET_"),
    "billing-service": ("billing_service.main:create_app", "BILLING_"),
    "onboarding-service": ("onboarding_service.main:create_app", "ONBOARDING_"),
    "escalation-service": ("escalation_service.main:create_app", "ESCALATION_"),
}


async def idle_memory(settle: float) -> dict[str, float]:
    """RSS of each service idle (started, ready, no request) and of a bare FastAPI."""
    rss: dict[str, float] = {}
    async with serve("bare", "benchmarks.request_path:bare_app", {}) as bare:
        await asyncio.sleep(settle)
        rss["bare FastAPI"] = bare.rss_mib()
    for service, (factory, prefix) in SERVICES.items():
        migrations = ROOT / f"services/{service}/src/{service.replace('-', '_')}/migrations"
        name, url = await migrated_database(f"bench_rss_{service[:4]}", migrations)
        try:
            env = {
                f"{prefix}DATABASE_URL": url,
                "KAFKA_TOPIC_PREFIX": topic_prefix(),
                "ENVIRONMENT": "test",
                "GC_FREEZE": "true",  # as deployed: on outside ENVIRONMENT=test
                "LOG_LEVEL": "WARNING",
            }
            async with serve(service, factory, env) as subject:
                await asyncio.sleep(settle)
                rss[service] = subject.rss_mib()
        finally:
            await drop_database(name)
    return rss


# --- the run -------------------------------------------------------------------------------
#
# Subject and baselines are measured in short alternating rounds (ticket-service,
# baseline, …, then the next round in the other order), and each figure is the median of
# the rounds' ratios: a change of the machine's load during the run moves both sides of a
# round alike, not the ratio.


Measurement = Callable[[], Awaitable[float]]


@dataclass
class Measure:
    """One ratio of the table: ``subject`` against ``baseline``, measured once per round."""

    what: str
    baseline_name: str
    bound: float | None
    """The target ratio (``None``: no target), a floor or a ceiling by ``higher_is_better``."""
    higher_is_better: bool
    subjects: list[float] = field(default_factory=list)
    baselines: list[float] = field(default_factory=list)

    @property
    def subject(self) -> float:
        return statistics.median(self.subjects)

    @property
    def baseline(self) -> float:
        return statistics.median(self.baselines)

    @property
    def ratios(self) -> list[float]:
        return [
            s / b if b else float("nan") for s, b in zip(self.subjects, self.baselines, strict=True)
        ]

    @property
    def ratio(self) -> float:
        finite = [x for x in self.ratios if x == x]  # a round too short to count is NaN
        return statistics.median(finite) if finite else float("nan")

    @property
    def target(self) -> str:
        if self.bound is None:
            return "-"
        return f"{'≥' if self.higher_is_better else '≤'} {self.bound:g}x"


@dataclass
class Group:
    """Measurements taken back to back in a round; ``pairs`` says which are compared:
    (measure, subject's label, baseline's label)."""

    runs: dict[str, Measurement]
    pairs: list[tuple[Measure, str, str]]


async def alternate(groups: list[Group], rounds: int) -> list[str]:
    """Every group's measurements, ``rounds`` times, in turn forwards and backwards;
    returns the labels in the order measured (what the test of the ordering reads)."""
    order: list[str] = []
    for n in range(rounds):
        for group in groups:
            labels = list(group.runs)
            if n % 2:
                labels.reverse()
            taken: dict[str, float] = {}
            for label in labels:
                taken[label] = await group.runs[label]()
                order.append(label)
            for measure, subject, baseline in group.pairs:
                measure.subjects.append(taken[subject])
                measure.baselines.append(taken[baseline])
    return order


async def main(args: argparse.Namespace) -> list[str]:
    name, url = await migrated_database("bench_request_path", TICKET_MIGRATIONS)
    lines: list[str] = []
    c, s, r = args.concurrency, args.seconds, args.rate
    create_cap = "POST /v1/tickets capacity (req/s)"
    create_cpu, health_cpu = "POST /v1/tickets CPU per request (ms)", "GET /healthz CPU (ms)"
    measures = {
        "create cap orm": Measure(create_cap, "ORM + outbox", 0.5, True),
        "create cap raw": Measure(create_cap, "raw asyncpg", None, True),
        "create cpu": Measure(create_cpu, "ORM + outbox", None, False),
        "get cap": Measure("GET /v1/tickets/{id} capacity (req/s)", "ORM get", 0.6, True),
        "healthz cpu": Measure(health_cpu, "bare FastAPI", 1.3, False),
    }  # fmt: skip
    try:
        await seed_tenants(url)
        env = {"BENCH_DATABASE_URL": url}
        ticket_env = {
            "TICKET_DATABASE_URL": url,
            "KAFKA_TOPIC_PREFIX": topic_prefix(),
            "ENVIRONMENT": "test",
            "GC_FREEZE": "true",  # as deployed: on outside ENVIRONMENT=test
            "LOG_LEVEL": "WARNING",
            "TICKET_RUN_RELAY": "false",
            "TICKET_RUN_CONSUMERS": "false",
        }
        # all four up at once (idle while another is measured), so rounds can alternate
        async with (
            serve("ticket", "ticket_service.main:create_app", ticket_env) as ticket,
            serve("bare", "benchmarks.request_path:bare_app", {}) as bare,
            serve("orm", "benchmarks.request_path:orm_app", env) as orm,
            serve("asyncpg", "benchmarks.request_path:asyncpg_app", env) as raw,
        ):
            async with httpx.AsyncClient(base_url=ticket.base_url) as client:
                made = await client.post("/v1/tickets", json=_ticket_body(0), headers=STAFF)
                ticket_id = made.json()["id"]

            def cap(subject: Subject, send: Send) -> Measurement:
                return lambda: capacity(subject, send, concurrency=c, seconds=s)

            def cpu(subject: Subject, send: Send) -> Measurement:
                # CPU in nanoseconds (``Subject.cpu_seconds``); 160 requests a round (20/s
                # for 8 s) still average out the per-request jitter of a shared machine
                return lambda: cpu_per_request(subject, send, rate=r, seconds=args.cpu_seconds)

            m = measures
            groups = [
                Group(
                    {
                        "ticket": cap(ticket, post_ticket(STAFF)),
                        "orm": cap(orm, post_ticket()),
                        "raw": cap(raw, post_ticket()),
                    },
                    [
                        (m["create cap orm"], "ticket", "orm"),
                        (m["create cap raw"], "ticket", "raw"),
                    ],
                ),
                Group(
                    {"ticket": cpu(ticket, post_ticket(STAFF)), "orm": cpu(orm, post_ticket())},
                    [(m["create cpu"], "ticket", "orm")],
                ),
                Group(
                    {
                        "ticket": cap(ticket, get_ticket(ticket_id, STAFF)),
                        "orm": cap(orm, get_ticket(ticket_id)),
                    },
                    [(m["get cap"], "ticket", "orm")],
                ),
                Group(
                    {"ticket": cpu(ticket, healthz()), "bare": cpu(bare, healthz())},
                    [(m["healthz cpu"], "ticket", "bare")],
                ),
            ]
            await alternate(groups, args.rounds)
        statements = await statements_per_request(url)
    finally:
        await drop_database(name)
    rss = await idle_memory(args.settle)

    lines += [
        f"## Request path: {args.rounds} alternating rounds; capacity with {c} clients "
        f"for {s:g} s, CPU at {r:g} req/s for {args.cpu_seconds:g} s per measurement",
        "",
        "| measure | ticket-service (median) | baseline (median, same rounds) "
        "| ratio (median of rounds) | spread of the rounds' ratios | target | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for measure in measures.values():
        ratios = [x for x in measure.ratios if x == x] or [float("nan")]  # not NaN
        # three places: a ratio at its target's edge must not round onto it
        lines.append(
            f"| {measure.what} | {measure.subject:.1f} | {measure.baseline:.1f} "
            f"({measure.baseline_name}) | **{measure.ratio:.3f}x** "
            f"| {min(ratios):.2f} to {max(ratios):.2f}x | {measure.target} "
            f"| {verdict(measure.ratio, measure.bound, measure.higher_is_better)} |"
        )
    lines += [
        "",
        "| per request (counted) | SQL statements | target | round trips to PostgreSQL |",
        "|---|---|---|---|",
    ]
    targets = {"POST /v1/tickets": "≤ 6", "GET /v1/tickets/{id}": "≤ 3"}
    for what, (count, trips) in statements.items():
        lines.append(f"| {what} | {count} | {targets.get(what, '-')} | {trips} |")
    lines += ["", "| idle RSS | MiB | vs bare FastAPI (target ≤ 1.5x) |", "|---|---|---|"]
    for what, mib in rss.items():
        lines.append(f"| {what} | {mib:.0f} | {mib / rss['bare FastAPI']:.2f}x |")
    return lines


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="request-path benchmark")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--seconds", type=float, default=3.0, help="per measurement and round")
    p.add_argument("--rounds", type=int, default=5, help="alternating subject/baseline rounds")
    p.add_argument("--cpu-seconds", type=float, default=8.0, help="per CPU measurement and round")
    p.add_argument("--rate", type=float, default=20.0)
    p.add_argument("--settle", type=float, default=3.0, help="idle seconds before reading RSS")
    return p


if __name__ == "__main__":
    for line in asyncio.run(main(parser().parse_args())):
        print(line)  # noqa: T201
