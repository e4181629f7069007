"""Scale benchmark: the lists, filters, searches and ticket create a support console uses,
on a million tickets (100k bugs, 500k invoices) against the same requests on 10k rows,
measured in one run at a fixed arrival rate.

    make bench-scale          (or: uv run python -m benchmarks.scale)
    uv run python -m benchmarks.scale --tickets 20000 --baseline-tickets 2000 --seconds 2

Each size gets its own databases (unique names, migrated, dropped afterwards), seeded
with COPY: tenants of very different sizes, realistic statuses, queues, agents, tags,
SLA deadlines, bodies made of real words, timelines. Every request runs in-process
(ASGI) against the real service app; latency is from the request's scheduled time to
its response (open model: a late request does not delay the next one). Not a test: the
figures go to docs/benchmarks.md; ``tests/perf`` runs a smoke size to keep this working.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from servicekit.testing import (
    auth,
    drop_database,
    migrated_database,
    topic_prefix,
)

ROOT = Path(__file__).resolve().parents[1]
MIGRATIONS = {
    "ticket": ROOT / "services/ticket-service/src/ticket_service/migrations",
    "escalation": ROOT / "services/escalation-service/src/escalation_service/migrations",
    "billing": ROOT / "services/billing-service/src/billing_service/migrations",
}
NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
PAGE = 50
DEEP_PAGES = 50

# Words of real support conversations; a few are frequent (Zipf), most are not.
VOCABULARY_TEXT = """
invoice payment login password account error page report export dashboard user admin
email billing charge refund subscription plan upgrade downgrade seat license renewal
card declined failed reset access denied permission role team workspace project file
upload download import sync integration api token webhook timeout slow loading broken
crash blank screen mobile browser chrome firefox safari windows mac android iphone
update version release feature request bug issue problem question help urgent asap
customer order shipment delivery address phone number settings profile notification
alert message chat support agent ticket priority status pending closed solved open
calendar meeting schedule time zone date format currency tax vat receipt statement
credit debit bank transfer wire overdue reminder contract renewal cancel cancellation
trial demo onboarding training documentation guide tutorial video link button click form
field required invalid missing duplicate wrong incorrect unexpected behaviour search
filter sort column table chart graph metric analytics data backup restore delete remove
archive migrate migration database server outage downtime latency security breach
phishing suspicious verification code authenticator device phone locked unlock
reactivate deactivate invite invitation activation expired session sso saml okta azure
google directory provisioning scim group member owner billing printer scanner keyboard
monitor network wifi vpn proxy firewall certificate domain quarterly annual monthly
weekly daily morning afternoon evening weekend holiday please thanks hello regards sorry
again still cannot unable working stopped since yesterday today tomorrow week month year
after before during while when where why
"""
VOCABULARY = VOCABULARY_TEXT.split()
RARE_WORD = "xylophone"
COMMON_WORD = "invoice"
STATUSES = (
    ("closed", 0.62),
    ("solved", 0.18),
    ("new", 0.06),
    ("open", 0.07),
    ("pending", 0.04),
    ("on_hold", 0.03),
)
ACTIVE = {"new", "open", "pending", "on_hold"}
QUEUES = ("support", "billing", "access", "product", "onboarding", "sales", "compliance")
CATEGORIES = {
    "support": "other",
    "billing": "billing",
    "access": "access",
    "product": "potential_bug",
    "onboarding": "onboarding",
    "sales": "sales",
    "compliance": "compliance",
}
PRIORITIES = (("low", 0.15), ("normal", 0.6), ("high", 0.2), ("urgent", 0.05))
TAGS = ("vip", "renewal", "mfa", "outage", "refund", "sso", "mobile", "api", "export", "churn")
RARE_TAG = "legal-hold"
AGENTS = 60
TIERS = ("starter", "team", "business", "enterprise")


@dataclass
class Sizes:
    tickets: int
    bugs: int
    invoices: int


@dataclass
class Dataset:
    """Values the console's requests use, chosen from what was seeded."""

    big_tenant: str = ""
    assignee: str = ""
    queue: str = "billing"
    seed_seconds: dict[str, float] = field(default_factory=dict)


def _weights(pairs: tuple[tuple[str, float], ...]) -> tuple[list[str], list[float]]:
    values = [p[0] for p in pairs]
    cumulative, total = [], 0.0
    for _, weight in pairs:
        total += weight
        cumulative.append(total)
    return values, cumulative


TENANT_NAMESPACE = uuid.UUID("5ca1e000-0000-4000-8000-000000000015")


async def _known_tenants(conn: asyncpg.Connection, tenants: list[str]) -> None:
    """Billing and escalation answer only for tenants onboarding announced (their
    ``known_tenants`` read model, docs/security.md)."""
    await conn.executemany(
        "INSERT INTO known_tenants (tenant_id, status, heard_at) VALUES ($1, 'activated', $2)",
        [(t, NOW) for t in tenants],
    )


def _tenants(count: int) -> tuple[list[str], list[float]]:
    """Tenants of very different sizes: weight 1/rank^0.9 (a few giants, a long tail)."""
    # onboarding's ids are UUIDs (anything else is refused as an unknown tenant);
    # deterministic, so every service's seed names the same tenants
    names = [str(uuid.uuid5(TENANT_NAMESPACE, f"ten-{n:05d}")) for n in range(count)]
    cumulative, total = [], 0.0
    for rank in range(count):
        total += 1.0 / (rank + 1) ** 0.9
        cumulative.append(total)
    return names, cumulative


def _text(rng: random.Random, words: int) -> str:
    # a Zipf-like pick: low indexes (common words) far more often
    vocab = VOCABULARY
    top = len(vocab) - 1
    return " ".join(vocab[min(top, int(rng.paretovariate(0.9)) - 1)] for _ in range(words))


# --- seeding ------------------------------------------------------------------------------


async def _copy(
    conn: asyncpg.Connection, table: str, columns: list[str], records: Iterator[tuple[Any, ...]]
) -> None:
    await conn.copy_records_to_table(table, records=records, columns=columns)


@contextlib.asynccontextmanager
async def _bulk_load(conn: asyncpg.Connection, table: str) -> AsyncIterator[None]:
    """Load without maintaining secondary indexes and user triggers row by row: drop the
    indexes (not the primary key or unique constraints), load, rebuild them in one pass."""
    rows = await conn.fetch(
        """
        SELECT i.indexname, i.indexdef FROM pg_indexes i
        WHERE i.tablename = $1 AND NOT EXISTS (
            SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
        """,
        table,
    )
    for row in rows:
        await conn.execute(f'DROP INDEX "{row["indexname"]}"')
    await conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
    try:
        yield
    finally:
        await conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
        await conn.execute("SET maintenance_work_mem = '256MB'")
        for row in rows:
            await conn.execute(row["indexdef"])


async def seed_tickets(url: str, count: int, *, seed: int = 15) -> Dataset:
    rng = random.Random(seed)
    data = Dataset()
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        tenant_count = max(20, count // 500)
        tenants, tenant_weights = _tenants(tenant_count)
        data.big_tenant = tenants[0]
        await conn.executemany(
            "INSERT INTO accounts (tenant_id, company_name, plan_tier, tenant_status,"
            " domains, cancel_at_period_end) VALUES ($1, $2, $3, 'active', $4, false)",
            [
                (t, f"Company {t}", TIERS[n % 4], [f"{t}.example.com"])
                for n, t in enumerate(tenants)
            ],
        )
        agents = [f"agent-{n:02d}" for n in range(AGENTS)]
        data.assignee = agents[3]
        await conn.executemany(
            "INSERT INTO agents (id, name, available, queues) VALUES ($1, $2, true, $3)",
            [(a, a, [QUEUES[n % len(QUEUES)], "support"]) for n, a in enumerate(agents)],
        )
        statuses, status_weights = _weights(STATUSES)
        priorities, priority_weights = _weights(PRIORITIES)
        span = timedelta(days=730).total_seconds()
        ids: list[uuid.UUID] = []
        timeline_share = 0.1
        # drawing ~40 words per ticket would cost more than the COPY: draw from pools
        subjects = [_text(rng, rng.randint(3, 8)) for _ in range(min(count, 5_000))]
        bodies = [_text(rng, rng.randint(15, 60)) for _ in range(min(count, 20_000))]

        def tickets() -> Iterator[tuple[Any, ...]]:
            for n in range(count):
                tenant = rng.choices(tenants, cum_weights=tenant_weights)[0]
                status = rng.choices(statuses, cum_weights=status_weights)[0]
                priority = rng.choices(priorities, cum_weights=priority_weights)[0]
                queue = QUEUES[min(len(QUEUES) - 1, int(rng.expovariate(0.7)))]
                # newer tickets are more likely active; creation spread over two years
                created = NOW - timedelta(seconds=rng.random() ** 1.5 * span)
                tags = [TAGS[int(rng.expovariate(0.8)) % len(TAGS)]] if rng.random() < 0.4 else []
                if n % 20000 == 7:
                    tags.append(RARE_TAG)
                subject = subjects[rng.randrange(len(subjects))]
                body = bodies[rng.randrange(len(bodies))]
                if n % 50000 == 11:
                    body += f" {RARE_WORD}"
                assignee = agents[rng.randrange(AGENTS)] if rng.random() < 0.85 else None
                active = status in ACTIVE
                due = created + timedelta(hours=rng.choice((4, 8, 24, 40)))
                if active:
                    phase = "paused" if status in ("pending", "on_hold") else "running"
                    solved = None
                else:
                    phase = "met" if rng.random() < 0.8 else "missed"
                    solved = created + timedelta(hours=rng.uniform(1, 72))
                ticket_id = uuid.uuid4()
                if rng.random() < timeline_share:
                    ids.append(ticket_id)
                yield (
                    ticket_id,
                    tenant,
                    f"user{n % 997}@{tenant}.example.com",
                    "Pat Doe",
                    rng.choice(("email", "web", "chat", "phone")),
                    subject[:300],
                    body,
                    status,
                    priority,
                    CATEGORIES[queue],
                    queue,
                    tags,
                    assignee,
                    1,
                    solved,
                    created,
                    solved or created,
                    phase,
                    due,
                    due - timedelta(hours=1),
                    phase,
                    due + timedelta(hours=24),
                    due + timedelta(hours=23),
                    created,
                )

        columns = [
            "id", "tenant_id", "requester_email", "requester_name", "channel", "subject",
            "body", "status", "priority", "category", "queue", "tags", "assignee_id",
            "version", "solved_at", "created_at", "updated_at",
            "sla_first_response_phase", "sla_first_response_due_at",
            "sla_first_response_warn_at", "sla_resolution_phase", "sla_resolution_due_at",
            "sla_resolution_warn_at", "sla_refreshed_at",
        ]  # fmt: skip
        started = time.perf_counter()
        async with _bulk_load(conn, "tickets"):
            await _copy(conn, "tickets", columns, tickets())
            data.seed_seconds["tickets COPY"] = time.perf_counter() - started
            indexes = time.perf_counter()
        data.seed_seconds["tickets indexes"] = time.perf_counter() - indexes

        def entries() -> Iterator[tuple[Any, ...]]:
            for ticket_id in ids:
                at = NOW - timedelta(days=rng.uniform(0, 700))
                yield (
                    uuid.uuid4(),
                    ticket_id,
                    "reply",
                    "customer",
                    "created",
                    _text(rng, 20),
                    "{}",
                    at,
                )
                yield (uuid.uuid4(), ticket_id, "system", "system", "triaged", "triaged", "{}", at)
                yield (
                    uuid.uuid4(),
                    ticket_id,
                    "reply",
                    "agent",
                    "replied",
                    _text(rng, 30),
                    "{}",
                    at,
                )

        started = time.perf_counter()
        await _copy(
            conn,
            "timeline_entries",
            ["id", "ticket_id", "kind", "author_type", "action", "body", "data", "created_at"],
            entries(),
        )
        data.seed_seconds["timeline COPY"] = time.perf_counter() - started
        # the trigger-kept load of each agent, computed once for the loaded tickets
        await conn.execute(
            """
            UPDATE agents a SET active_tickets = c.n FROM (
                SELECT assignee_id, count(*) AS n FROM tickets
                WHERE status IN ('new', 'open', 'pending', 'on_hold') GROUP BY assignee_id
            ) c WHERE a.id = c.assignee_id
            """
        )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return data


async def seed_bugs(url: str, count: int, *, seed: int = 15) -> Dataset:
    rng = random.Random(seed)
    data = Dataset()
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        tenants, weights = _tenants(max(20, count // 50))
        data.big_tenant = tenants[0]
        span = timedelta(days=730).total_seconds()
        statuses = (
            "reported", "reproducing", "reproduced", "needs_info", "escalated",
            "in_progress", "fixed", "verified", "closed",
        )  # fmt: skip

        def bugs() -> Iterator[tuple[Any, ...]]:
            for n in range(count):
                created = NOW - timedelta(seconds=rng.random() * span)
                tenant = rng.choices(tenants, cum_weights=weights)[0]
                yield (
                    uuid.uuid4(),
                    tenant,
                    _text(rng, 6)[:300],
                    _text(rng, 20),
                    json.dumps([_text(rng, 6), _text(rng, 6)]),
                    _text(rng, 12),
                    _text(rng, 8),
                    _text(rng, 8),
                    json.dumps({"browser": "chrome", "app_version": f"4.{n % 30}"}),
                    rng.choice(("low", "medium", "high", "critical")),
                    "[]",
                    json.dumps([tenant]),
                    statuses[min(len(statuses) - 1, int(rng.expovariate(0.5)))],
                    rng.randint(0, 100),
                    0,
                    1,
                    created,
                    created,
                )

        columns = [
            "id", "tenant_id", "title", "summary", "steps", "steps_text", "expected",
            "actual", "environment", "severity", "attachments", "affected_tenants", "status",
            "completeness_score", "rework_count", "version", "created_at", "updated_at",
        ]  # fmt: skip
        started = time.perf_counter()
        await _known_tenants(conn, tenants)
        async with _bulk_load(conn, "bugs"):
            await _copy(conn, "bugs", columns, bugs())
        data.seed_seconds["bugs COPY + indexes"] = time.perf_counter() - started
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return data


async def seed_invoices(url: str, count: int, *, seed: int = 15) -> Dataset:
    rng = random.Random(seed)
    data = Dataset()
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        tenants, weights = _tenants(max(20, count // 100))
        data.big_tenant = tenants[0]
        span = timedelta(days=730).total_seconds()
        statuses, status_weights = _weights(
            (("paid", 0.85), ("open", 0.08), ("void", 0.04), ("uncollectible", 0.03))
        )

        def invoices() -> Iterator[tuple[Any, ...]]:
            for n in range(count):
                created = NOW - timedelta(seconds=rng.random() * span)
                status = rng.choices(statuses, cum_weights=status_weights)[0]
                amount = rng.choice((4900, 9900, 29900, 99900, 249900))
                yield (
                    str(uuid.uuid4()),
                    rng.choices(tenants, cum_weights=weights)[0],
                    f"in_bench_{n}",
                    f"INV-{n:07d}",
                    status,
                    rng.choice(("charge_automatically", "send_invoice")),
                    "usd",
                    amount,
                    amount if status == "paid" else 0,
                    0 if status == "paid" else amount,
                    0,
                    created + timedelta(days=30),
                    created,
                    created + timedelta(days=30),
                    False,
                    True,
                    0,
                    0,
                    1,
                    created,
                )

        columns = [
            "id", "tenant_id", "stripe_invoice_id", "number", "status", "collection_method",
            "currency", "amount_due", "amount_paid", "amount_remaining", "attempt_count",
            "due_date", "period_start", "period_end", "is_renewal", "sent",
            "overdue_days_reported", "stripe_state_at", "version", "created_at",
        ]  # fmt: skip
        started = time.perf_counter()
        await _known_tenants(conn, tenants)
        async with _bulk_load(conn, "invoices"):
            await _copy(conn, "invoices", columns, invoices())
        data.seed_seconds["invoices COPY + indexes"] = time.perf_counter() - started
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return data


# --- load -----------------------------------------------------------------------------------


@dataclass
class Stats:
    latencies_ms: list[float]
    errors: int
    timeouts: int

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass(frozen=True)
class Probe:
    """One console request: a name, a target p99 (ms) and how to send it."""

    name: str
    target_ms: float | None
    send: Callable[[httpx.AsyncClient], Any]


async def open_model(
    client: httpx.AsyncClient, probe: Probe, *, rate: float, seconds: float, timeout: float
) -> Stats:
    """``rate`` requests per second for ``seconds``, each at its scheduled time whatever
    the previous ones are doing; latency counts from the scheduled time."""
    loop = asyncio.get_running_loop()
    total = max(1, int(rate * seconds))
    start = loop.time() + 0.05
    latencies: list[float] = []
    counts = {"errors": 0, "timeouts": 0}

    async def one(due: float) -> None:
        await asyncio.sleep(max(0.0, due - loop.time()))
        try:
            response = await asyncio.wait_for(probe.send(client), timeout)
        except TimeoutError:
            counts["timeouts"] += 1
            latencies.append(timeout * 1000)
            return
        latencies.append((loop.time() - due) * 1000)
        if response.status_code >= 400:
            counts["errors"] += 1

    await asyncio.gather(*(one(start + n / rate) for n in range(total)))
    return Stats(latencies, counts["errors"], counts["timeouts"])


SERVED = {
    "ticket": ("ticket_service.main:create_app", "TICKET_"),
    "escalation": ("escalation_service.main:create_app", "ESCALATION_"),
    "billing": ("billing_service.main:create_app", "BILLING_"),
}


@contextlib.asynccontextmanager
async def served(
    service: str, url: str, args: argparse.Namespace
) -> AsyncIterator[httpx.AsyncClient]:
    """The service in a uvicorn process of its own (``--in-process``: as an ASGI app in
    this one, which then shares one core with the load generator)."""
    if args.in_process:
        make = {"ticket": ticket_app, "escalation": _escalation_app, "billing": _billing_app}
        async with running(make[service](url)) as client:
            yield client
        return
    from benchmarks.request_path import serve

    factory, prefix = SERVED[service]
    env = {
        f"{prefix}DATABASE_URL": url,
        "KAFKA_TOPIC_PREFIX": topic_prefix(),
        "ENVIRONMENT": "test",
        "LOG_LEVEL": "WARNING",
        f"{prefix}RUN_RELAY": "false",
        f"{prefix}RUN_CONSUMERS": "false",
    }
    async with (
        serve(service, factory, env) as subject,
        httpx.AsyncClient(
            base_url=subject.base_url,
            limits=httpx.Limits(max_connections=100),
            timeout=60.0,  # the open model times requests out itself
        ) as client,
    ):
        yield client


@contextlib.asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            yield client


def ticket_app(url: str) -> FastAPI:
    from ticket_service.config import TicketSettings
    from ticket_service.main import create_app

    # the relay and consumers are not what is measured here; their work would only add
    # noise (the request path and its database are)
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


async def cursor_deep(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], pages: int = DEEP_PAGES
) -> str:
    """The cursor of page ``pages`` (walked before measuring, not measured)."""
    cursor = ""
    for _ in range(pages):
        page = (
            await client.get(url + (f"&cursor={cursor}" if cursor else ""), headers=headers)
        ).json()
        cursor = page.get("next_cursor") or cursor
    return cursor


def ticket_probes(data: Dataset, deep_cursor: str) -> list[Probe]:
    staff = auth("agent", subject="bench-agent")
    scoped = auth("agent", tenant_id=data.big_tenant, subject="bench-customer")
    lists = {
        "first page": ("", 50),
        "tenant": (f"&tenant_id={data.big_tenant}", 50),
        "status open": ("&status=open", 50),
        "queue": (f"&queue={data.queue}", 50),
        "assignee": (f"&assignee={data.assignee}", 50),
        "tag (common)": ("&tag=vip", 50),
        "tag (rare)": (f"&tag={RARE_TAG}", 50),
        "SLA state breached": ("&sla_state=breached", 50),
        "cursor deep": (f"&cursor={deep_cursor}", 50),
        "full-text common word": (f"&q={COMMON_WORD}", 150),
        "full-text rare word": (f"&q={RARE_WORD}", 50),
    }
    probes = [
        Probe(
            name, target, lambda c, p=params: c.get(f"/v1/tickets?limit={PAGE}{p}", headers=staff)
        )
        for name, (params, target) in lists.items()
    ]
    probes.append(
        Probe(
            "tenant-scoped token",
            50,
            lambda c: c.get(f"/v1/tickets?limit={PAGE}", headers=scoped),
        )
    )
    counter = iter(range(10**9))

    def create(c: httpx.AsyncClient) -> Any:
        n = next(counter)
        body = {
            "tenant_id": data.big_tenant,
            "requester": {"email": f"bench{n}@example.com", "name": "Bench"},
            "channel": "email",
            "subject": f"Invoice {n} was charged twice",
            "body": "Hello, our card was charged twice for the same invoice this month.",
        }
        return c.post("/v1/tickets", json=body, headers=staff)

    probes.append(Probe("ticket create", None, create))
    return probes


@dataclass
class Row:
    name: str
    target_ms: float | None
    small: Stats
    large: Stats


async def run_tickets(
    sizes: tuple[int, int], args: argparse.Namespace
) -> tuple[list[Row], dict[str, Any]]:
    results: dict[str, dict[str, Stats]] = {}
    notes: dict[str, Any] = {}
    probes_order: list[Probe] = []
    for label, count in (("small", sizes[0]), ("large", sizes[1])):
        name, url = await migrated_database("bench_scale_tickets", MIGRATIONS["ticket"])
        try:
            started = time.perf_counter()
            data = await seed_tickets(url, count)
            notes[f"tickets {count:,} seeded in"] = f"{time.perf_counter() - started:.1f} s " + (
                "(" + ", ".join(f"{k} {v:.1f} s" for k, v in data.seed_seconds.items()) + ")"
            )
            async with served("ticket", url, args) as client:
                staff = auth("agent", subject="bench-agent")
                deep = await cursor_deep(
                    client, f"/v1/tickets?limit={PAGE}", staff, args.deep_pages
                )
                probes = ticket_probes(data, deep)
                probes_order = probes
                for probe in probes:
                    for _ in range(5):  # warm: prepared statements, caches
                        await probe.send(client)
                    results.setdefault(probe.name, {})[label] = await open_model(
                        client, probe, rate=args.rate, seconds=args.seconds, timeout=args.timeout
                    )
        finally:
            await drop_database(name)
    rows = [
        Row(p.name, p.target_ms, results[p.name]["small"], results[p.name]["large"])
        for p in probes_order
    ]
    return rows, notes


async def run_list(
    kind: str, sizes: tuple[int, int], args: argparse.Namespace
) -> tuple[list[Row], dict[str, Any]]:
    """Bugs (escalation) or invoices (billing): the list, a filter, a tenant, 50 deep."""
    results: dict[str, dict[str, Stats]] = {}
    notes: dict[str, Any] = {}
    names: list[str] = []
    for label, count in (("small", sizes[0]), ("large", sizes[1])):
        name, url = await migrated_database(f"bench_scale_{kind}", MIGRATIONS[kind])
        try:
            started = time.perf_counter()
            if kind == "escalation":
                data = await seed_bugs(url, count)
                path, status = "/v1/bugs", "status=reproduced"
                headers = auth("qa", subject="bench-qa")
            else:
                data = await seed_invoices(url, count)
                path, status = "/v1/invoices", "status=open"
                headers = auth("billing", subject="bench-billing")
            notes[f"{kind} {count:,} seeded in"] = f"{time.perf_counter() - started:.1f} s"
            async with served(kind, url, args) as client:
                deep = await cursor_deep(client, f"{path}?limit={PAGE}", headers, args.deep_pages)
                probes = {
                    "first page": f"{path}?limit={PAGE}",
                    "status filter": f"{path}?limit={PAGE}&{status}",
                    "tenant": f"{path}?limit={PAGE}&tenant_id={data.big_tenant}",
                    "cursor deep": f"{path}?limit={PAGE}&cursor={deep}",
                }
                for probe_name, url_ in probes.items():
                    probe = Probe(probe_name, 50, lambda c, u=url_, h=headers: c.get(u, headers=h))
                    await probe.send(client)
                    if probe_name not in names:
                        names.append(probe_name)
                    results.setdefault(probe_name, {})[label] = await open_model(
                        client, probe, rate=args.rate, seconds=args.seconds, timeout=args.timeout
                    )
        finally:
            await drop_database(name)
    return [Row(n, 50, results[n]["small"], results[n]["large"]) for n in names], notes


def _escalation_app(url: str) -> FastAPI:
    from escalation_service.config import EscalationSettings
    from escalation_service.main import create_app

    return create_app(
        EscalationSettings(
            database_url=url,
            kafka_topic_prefix=topic_prefix(),
            environment="test",
            run_relay=False,
            run_consumers=False,
            log_level="WARNING",
        )
    )


def _billing_app(url: str) -> FastAPI:
    from billing_service.config import BillingSettings
    from billing_service.main import create_app

    return create_app(
        BillingSettings(
            database_url=url,
            kafka_topic_prefix=topic_prefix(),
            environment="test",
            run_relay=False,
            run_consumers=False,
            log_level="WARNING",
        )
    )


# --- report ---------------------------------------------------------------------------------


def verdict(row: Row) -> str:
    large = row.large
    if large.timeouts or large.errors:
        return "FAIL (timeouts/errors)"
    if row.target_ms is None:  # create: within 1.2x of its small-table latency
        ratio = large.percentile(0.5) / max(row.small.percentile(0.5), 0.001)
        return f"{'ok' if ratio <= 1.2 else 'MISS'} ({ratio:.2f}x of small p50, target <= 1.2x)"
    return "ok" if large.percentile(0.99) <= row.target_ms else "MISS"


def table(title: str, rows: list[Row], sizes: tuple[int, int], args: argparse.Namespace) -> str:
    small, large = sizes
    lines = [
        f"## {title}: {large:,} vs {small:,} rows, {args.rate:g} req/s for {args.seconds:g} s each",
        "",
        f"| request | {small:,} p50 | {small:,} p99 | {large:,} p50 | {large:,} p99 "
        "| timeouts/errors | target p99 | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        target = "≤ 1.2x small" if row.target_ms is None else f"≤ {row.target_ms:g} ms"
        lines.append(
            f"| {row.name} | {row.small.percentile(0.5):.1f} | {row.small.percentile(0.99):.1f} "
            f"| {row.large.percentile(0.5):.1f} | {row.large.percentile(0.99):.1f} "
            f"| {row.large.timeouts}/{row.large.errors} | {target} | {verdict(row)} |"
        )
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {"tables": [], "notes": {}, "rows": {}}
    ticket_sizes = (args.baseline_tickets, args.tickets)
    rows, notes = await run_tickets(ticket_sizes, args)
    report["tables"].append(table("Tickets", rows, ticket_sizes, args))
    report["rows"]["tickets"] = rows
    report["notes"].update(notes)
    for kind, sizes, title in (
        ("escalation", (args.baseline_bugs, args.bugs), "Bugs (escalation-service)"),
        ("billing", (args.baseline_invoices, args.invoices), "Invoices (billing-service)"),
    ):
        if sizes[1] <= 0:
            continue
        rows, notes = await run_list(kind, sizes, args)
        report["tables"].append(table(title, rows, sizes, args))
        report["rows"][kind] = rows
        report["notes"].update(notes)
    return report


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else "")
    p.add_argument("--tickets", type=int, default=1_000_000)
    p.add_argument("--baseline-tickets", type=int, default=10_000)
    p.add_argument("--bugs", type=int, default=100_000)
    p.add_argument("--baseline-bugs", type=int, default=10_000)
    p.add_argument("--invoices", type=int, default=500_000)
    p.add_argument("--baseline-invoices", type=int, default=10_000)
    p.add_argument("--rate", type=float, default=20.0, help="requests per second")
    p.add_argument("--seconds", type=float, default=15.0, help="per request kind and size")
    p.add_argument("--timeout", type=float, default=2.0, help="a slower response times out")
    p.add_argument(
        "--in-process", action="store_true", help="serve the apps in this process (ASGI)"
    )
    p.add_argument("--deep-pages", type=int, default=DEEP_PAGES, help="the deep cursor's page")
    return p


if __name__ == "__main__":
    import logging

    arguments = parser().parse_args()
    logging.basicConfig(level=logging.WARNING)
    result = asyncio.run(main(arguments))
    for text_ in result["tables"]:
        print(text_, end="\n\n")  # noqa: T201
    for key, value in result["notes"].items():
        print(f"- {key}: {value}")  # noqa: T201
    print("\nlatencies in ms from each request's scheduled time (open model)")  # noqa: T201
