"""Scale benchmark: the lists, filters, searches and ticket create a support console uses,
on a million tickets (100k bugs, 500k invoices) against the same requests on 10k rows,
measured in one run at a fixed arrival rate.

    make bench-scale          (or: uv run python -m benchmarks.scale)
    uv run python -m benchmarks.scale --tickets 20000 --baseline-tickets 2000 --seconds 2

Each size gets its own databases (unique names, migrated, dropped afterwards), seeded
with COPY: tenants of very different sizes, realistic statuses, queues, agents, tags,
SLA deadlines, bodies made of real words, timelines. Each service is served by uvicorn
in a process of its own and the requests are sent by a load generator in another
(``--in-process``: the app and the generator in this one); latency is from the request's
scheduled time to its response (open model: a late request does not delay the next
one). Every request over 50 ms is split into the generator's lateness, the service's own
time and CPU (its ``Server-Timing`` header) and the rest, next to the service's
event-loop stalls during the cell (decision 0047). Not a test: the figures go to
docs/benchmarks.md; ``tests/perf`` runs a smoke size to keep this working.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import collections
import contextlib
import csv
import functools
import gc
import io
import json
import multiprocessing
import os
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.request_path import ticket_app
from benchmarks.targets import verdict as target_verdict
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
#
# A million tickets are generated in chunks by worker processes (one per core) and COPYed
# as CSV over several connections at once, so Python's generation and PostgreSQL's per-row
# work (the generated tsvector, heap, WAL) overlap on both cores. Every chunk draws from
# its own generator, seeded by (seed, table, first row): the data set is the same whatever
# the number of workers or the order the chunks finish in.

CHUNK = 20_000
COPY_CONNECTIONS = 3
INDEX_CONNECTIONS = 3
POOL_FROM = 50_000  # below this, a worker pool's start-up costs more than it saves


def _rng(seed: int, kind: str, first: int) -> random.Random:
    return random.Random(f"{seed}:{kind}:{first}")  # str seeds hash the same in every process


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _pg_array(values: list[str]) -> str:
    return "{" + ",".join(values) + "}"  # tags and queues are plain words, no quoting needed


def _csv(rows: list[tuple[Any, ...]]) -> bytes:
    """Rows as PostgreSQL CSV: None is an unquoted empty field (NULL); datetimes, UUIDs,
    numbers and booleans print as PostgreSQL reads them."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode()


TICKET_COLUMNS = [
    "id", "tenant_id", "requester_email", "requester_name", "channel", "subject",
    "body", "status", "priority", "category", "queue", "tags", "assignee_id",
    "version", "solved_at", "created_at", "updated_at",
    "sla_first_response_phase", "sla_first_response_due_at",
    "sla_first_response_warn_at", "sla_resolution_phase", "sla_resolution_due_at",
    "sla_resolution_warn_at", "sla_refreshed_at",
]  # fmt: skip
TIMELINE_COLUMNS = [
    "id", "ticket_id", "kind", "author_type", "action", "body", "data", "created_at"
]  # fmt: skip


@dataclass(frozen=True)
class _TicketWorld:
    tenants: list[str]
    tenant_weights: list[float]
    agents: list[str]
    subjects: list[str]
    bodies: list[str]
    replies: list[str]  # the customer's first message and the agent's answer in timelines
    answers: list[str]


@functools.lru_cache(maxsize=4)
def _ticket_world(count: int, seed: int) -> _TicketWorld:
    """What every chunk draws from; built once per process (deterministic)."""
    rng = _rng(seed, "ticket-pools", 0)
    tenants, weights = _tenants(max(20, count // 500))
    # drawing ~40 words per ticket would cost more than the COPY: draw from pools
    subjects = [_text(rng, rng.randint(3, 8))[:300] for _ in range(min(count, 5_000))]
    bodies = [_text(rng, rng.randint(15, 60)) for _ in range(min(count, 20_000))]
    replies = [_text(rng, 20) for _ in range(min(count, 5_000))]
    answers = [_text(rng, 30) for _ in range(min(count, 5_000))]
    agents = [f"agent-{n:02d}" for n in range(AGENTS)]
    return _TicketWorld(tenants, weights, agents, subjects, bodies, replies, answers)


# Timestamps are whole seconds counted from a midnight before every seeded time, printed
# from two tables (the day, the time of day): formatting a datetime per field was a third
# of the generation's CPU.
_BASE = datetime(NOW.year, NOW.month, NOW.day, tzinfo=UTC) - timedelta(days=800)
_NOW_S = int((NOW - _BASE).total_seconds())


@functools.cache
def _clock_tables() -> tuple[list[str], list[str]]:
    days = [(_BASE + timedelta(days=d)).strftime("%Y-%m-%d ") for d in range(820)]
    times = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}+00" for s in range(86_400)]
    return days, times


def _ts(seconds: int) -> str:
    days, times = _clock_tables()
    day, second = divmod(seconds, 86_400)
    return days[day] + times[second]


def _ticket_chunk(count: int, seed: int, first: int, size: int) -> Chunk:
    """Tickets ``first`` .. ``first + size`` of ``count`` as CSV, and the timelines of ~10 %
    of them. Written for speed (a million rows): plain string building, the draws by
    bisecting cumulative weights, ids as 32 hex digits (PostgreSQL's uuid input)."""
    started = time.process_time()
    world = _ticket_world(count, seed)
    days, times = _clock_tables()
    rng = _rng(seed, "tickets", first)
    random_, bits = rng.random, rng.getrandbits
    tenants, tenant_cum = world.tenants, world.tenant_weights
    tenant_total = tenant_cum[-1]
    statuses, status_cum = _weights(STATUSES)
    priorities, priority_cum = _weights(PRIORITIES)
    subjects, bodies, agents = world.subjects, world.bodies, world.agents
    channels = ("email", "web", "chat", "phone")
    hours = (4 * 3600, 8 * 3600, 24 * 3600, 40 * 3600)
    span = int(timedelta(days=730).total_seconds())
    tag_cells = ["{}"] + ["{" + tag + "}" for tag in TAGS]
    lines: list[str] = []
    timeline: list[tuple[str, int]] = []
    for n in range(first, first + size):
        tenant = tenants[bisect.bisect(tenant_cum, random_() * tenant_total)]
        status = statuses[bisect.bisect(status_cum, random_() * status_cum[-1])]
        priority = priorities[bisect.bisect(priority_cum, random_() * priority_cum[-1])]
        queue = QUEUES[min(len(QUEUES) - 1, int(rng.expovariate(0.7)))]
        # newer tickets are more likely active; creation spread over two years
        created = _NOW_S - int(random_() ** 1.5 * span)
        tag = 1 + int(rng.expovariate(0.8)) % len(TAGS) if random_() < 0.4 else 0
        tags = tag_cells[tag]
        if n % 20000 == 7:
            tags = f'"{{{TAGS[tag - 1]},{RARE_TAG}}}"' if tag else "{" + RARE_TAG + "}"
        body = bodies[int(random_() * len(bodies))]
        if n % 50000 == 11:
            body += f" {RARE_WORD}"
        assignee = agents[int(random_() * AGENTS)] if random_() < 0.85 else ""
        due = created + hours[int(random_() * 4)]
        if status in ACTIVE:
            phase = "paused" if status in ("pending", "on_hold") else "running"
            solved = ""
        else:
            phase = "met" if random_() < 0.8 else "missed"
            done = created + int(3600 + random_() * 71 * 3600)
            solved = days[done // 86_400] + times[done % 86_400]
        ticket_id = f"{bits(128):032x}"
        if random_() < 0.1:
            timeline.append((ticket_id, _NOW_S - int(random_() * 700 * 86_400)))
        at = days[created // 86_400] + times[created % 86_400]
        warn, resolve = due - 3600, due + 86_400
        lines.append(
            f"{ticket_id},{tenant},user{n % 997}@{tenant}.example.com,Pat Doe,"
            f"{channels[int(random_() * 4)]},{subjects[int(random_() * len(subjects))]},"
            f"{body},{status},{priority},{CATEGORIES[queue]},{queue},{tags},{assignee},1,"
            f"{solved},{at},{solved or at},{phase},{days[due // 86_400]}{times[due % 86_400]},"
            f"{days[warn // 86_400]}{times[warn % 86_400]},{phase},"
            f"{days[resolve // 86_400]}{times[resolve % 86_400]},"
            f"{days[(resolve - 3600) // 86_400]}{times[(resolve - 3600) % 86_400]},{at}\n"
        )
    entries: list[str] = []
    replies, answers = world.replies, world.answers
    for ticket_id, at_s in timeline:
        at = _ts(at_s)
        reply = replies[int(random_() * len(replies))]
        answer = answers[int(random_() * len(answers))]
        entries += [
            f"{bits(128):032x},{ticket_id},reply,customer,created,{reply},{{}},{at}\n",
            f"{bits(128):032x},{ticket_id},system,system,triaged,triaged,{{}},{at}\n",
            f"{bits(128):032x},{ticket_id},reply,agent,replied,{answer},{{}},{at}\n",
        ]
    copies = [("tickets", TICKET_COLUMNS, "".join(lines).encode())]
    if entries:
        copies.append(("timeline_entries", TIMELINE_COLUMNS, "".join(entries).encode()))
    return Chunk(copies, size, time.process_time() - started)


BUG_COLUMNS = [
    "id", "tenant_id", "title", "summary", "steps", "steps_text", "expected",
    "actual", "environment", "severity", "attachments", "affected_tenants", "status",
    "completeness_score", "rework_count", "version", "created_at", "updated_at",
]  # fmt: skip
BUG_STATUSES = (
    "reported", "reproducing", "reproduced", "needs_info", "escalated",
    "in_progress", "fixed", "verified", "closed",
)  # fmt: skip


def bug_chunk(count: int, seed: int, first: int, size: int) -> Chunk:
    started = time.process_time()
    tenants, weights = _tenants(max(20, count // 50))
    rng = _rng(seed, "bugs", first)
    span = timedelta(days=730).total_seconds()
    rows: list[tuple[Any, ...]] = []
    for n in range(first, first + size):
        created = NOW - timedelta(seconds=rng.random() * span)
        tenant = rng.choices(tenants, cum_weights=weights)[0]
        rows.append(
            (
                _uuid(rng), tenant, _text(rng, 6)[:300], _text(rng, 20),
                json.dumps([_text(rng, 6), _text(rng, 6)]), _text(rng, 12), _text(rng, 8),
                _text(rng, 8), json.dumps({"browser": "chrome", "app_version": f"4.{n % 30}"}),
                rng.choice(("low", "medium", "high", "critical")), "[]", json.dumps([tenant]),
                BUG_STATUSES[min(len(BUG_STATUSES) - 1, int(rng.expovariate(0.5)))],
                rng.randint(0, 100), 0, 1, created, created,
            )
        )  # fmt: skip
    return Chunk([("bugs", BUG_COLUMNS, _csv(rows))], size, time.process_time() - started)


INVOICE_COLUMNS = [
    "id", "tenant_id", "stripe_invoice_id", "number", "status", "collection_method",
    "currency", "amount_due", "amount_paid", "amount_remaining", "attempt_count",
    "due_date", "period_start", "period_end", "is_renewal", "sent",
    "overdue_days_reported", "stripe_state_at", "version", "created_at",
]  # fmt: skip


def _invoice_chunk(count: int, seed: int, first: int, size: int) -> Chunk:
    started = time.process_time()
    tenants, weights = _tenants(max(20, count // 100))
    rng = _rng(seed, "invoices", first)
    span = timedelta(days=730).total_seconds()
    statuses, status_weights = _weights(
        (("paid", 0.85), ("open", 0.08), ("void", 0.04), ("uncollectible", 0.03))
    )
    rows: list[tuple[Any, ...]] = []
    for n in range(first, first + size):
        created = NOW - timedelta(seconds=rng.random() * span)
        status = rng.choices(statuses, cum_weights=status_weights)[0]
        amount = rng.choice((4900, 9900, 29900, 99900, 249900))
        rows.append(
            (
                _uuid(rng), rng.choices(tenants, cum_weights=weights)[0], f"in_bench_{n}",
                f"INV-{n:07d}", status, rng.choice(("charge_automatically", "send_invoice")),
                "usd", amount, amount if status == "paid" else 0,
                0 if status == "paid" else amount, 0, created + timedelta(days=30), created,
                created + timedelta(days=30), False, True, 0, 0, 1, created,
            )
        )  # fmt: skip
    return Chunk([("invoices", INVOICE_COLUMNS, _csv(rows))], size, time.process_time() - started)


@dataclass
class Chunk:
    copies: list[tuple[str, list[str], bytes]]  # (table, columns, CSV), in FK order
    rows: int
    cpu_seconds: float


ChunkMaker = Callable[[int, int, int, int], Chunk]


def asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def _generate(
    make: ChunkMaker, count: int, seed: int, out: asyncio.Queue[Chunk | None], *, workers: int
) -> None:
    """Every chunk of ``count`` rows into ``out``: by ``workers`` processes (a few chunks
    ahead of the COPY, no more: memory stays bounded), or here for small loads."""
    bounds = [(first, min(CHUNK, count - first)) for first in range(0, count, CHUNK)]
    if workers <= 1:
        for first, size in bounds:
            await out.put(make(count, seed, first, size))
            await asyncio.sleep(0)
        return
    loop = asyncio.get_running_loop()
    # fork: a spawned worker would re-import this module and its web stack (seconds each);
    # a forked one only runs the pure-Python generation and leaves by os._exit, never
    # touching the parent's event loop or connections it inherited
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        pending: collections.deque[asyncio.Future[Chunk]] = collections.deque()
        for first, size in bounds:
            if len(pending) > workers:
                await out.put(await pending.popleft())
            pending.append(loop.run_in_executor(pool, make, count, seed, first, size))
        while pending:
            await out.put(await pending.popleft())


async def _copy_chunks(dsn: str, chunks: asyncio.Queue[Chunk | None]) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        while (chunk := await chunks.get()) is not None:
            for table, columns, data in chunk.copies:
                await conn.copy_to_table(
                    table, source=io.BytesIO(data), columns=columns, format="csv"
                )
    finally:
        await conn.close()


async def parallel_copy(
    url: str, make: ChunkMaker, count: int, *, seed: int, workers: int | None = None
) -> float:
    """Generate and COPY ``count`` rows concurrently; returns the generation's CPU seconds
    (spent in the workers, overlapped with the COPY)."""
    if workers is None:
        workers = (os.cpu_count() or 1) if count >= POOL_FROM else 1
    connections = COPY_CONNECTIONS if workers > 1 else 1
    chunks: asyncio.Queue[Chunk | None] = asyncio.Queue(maxsize=connections)
    cpu = 0.0

    async def produce() -> None:
        nonlocal cpu
        counted: asyncio.Queue[Chunk | None] = asyncio.Queue(maxsize=1)

        async def forward() -> None:
            nonlocal cpu
            while (chunk := await counted.get()) is not None:
                cpu += chunk.cpu_seconds
                await chunks.put(chunk)

        async with asyncio.TaskGroup() as inner:
            inner.create_task(forward())
            await _generate(make, count, seed, counted, workers=workers)
            await counted.put(None)
        for _ in range(connections):
            await chunks.put(None)

    async with asyncio.TaskGroup() as group:
        group.create_task(produce())
        for _ in range(connections):
            group.create_task(_copy_chunks(asyncpg_dsn(url), chunks))
    return cpu


@contextlib.asynccontextmanager
async def bulk_load(url: str, *tables: str) -> AsyncIterator[dict[str, float]]:
    """Load without maintaining secondary indexes and user triggers row by row: drop the
    indexes (not the primary key or unique constraints), load, then rebuild them, each
    ``CREATE INDEX`` on one of several connections at once (both cores busy)."""
    timings: dict[str, float] = {}
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        rows = await conn.fetch(
            """
            SELECT i.indexname, i.indexdef FROM pg_indexes i
            WHERE i.tablename = ANY($1::text[]) AND NOT EXISTS (
                SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
            """,
            list(tables),
        )
        for row in rows:
            await conn.execute(f'DROP INDEX "{row["indexname"]}"')
        for table in tables:
            await conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        try:
            yield timings
        finally:
            for table in tables:
                await conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
    finally:
        await conn.close()
    started = time.perf_counter()
    # the slow ones (GIN over the tsvector, composite btrees) first, so they do not end
    # up last on one connection while the others idle
    todo = sorted(
        (row["indexdef"] for row in rows),
        key=lambda d: (" USING gin " not in d, -d.count(",")),
    )

    async def build() -> None:
        builder = await asyncpg.connect(asyncpg_dsn(url))
        try:
            await builder.execute("SET maintenance_work_mem = '256MB'")
            await builder.execute("SET max_parallel_maintenance_workers = 1")
            while todo:
                await builder.execute(todo.pop(0))
        finally:
            await builder.close()

    async with asyncio.TaskGroup() as group:
        for _ in range(min(INDEX_CONNECTIONS, len(todo))):
            group.create_task(build())
    timings["indexes"] = time.perf_counter() - started


async def seed_tickets(
    url: str, count: int, *, seed: int = 15, workers: int | None = None
) -> Dataset:
    data = Dataset()
    world = _ticket_world(count, seed)
    data.big_tenant = world.tenants[0]
    data.assignee = world.agents[3]
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.executemany(
            "INSERT INTO accounts (tenant_id, company_name, plan_tier, tenant_status,"
            " domains, cancel_at_period_end) VALUES ($1, $2, $3, 'active', $4, false)",
            [
                (t, f"Company {t}", TIERS[n % 4], [f"{t}.example.com"])
                for n, t in enumerate(world.tenants)
            ],
        )
        await conn.executemany(
            "INSERT INTO agents (id, name, available, queues) VALUES ($1, $2, true, $3)",
            [(a, a, [QUEUES[n % len(QUEUES)], "support"]) for n, a in enumerate(world.agents)],
        )
        started = time.perf_counter()
        async with bulk_load(url, "tickets", "timeline_entries") as timings:
            cpu = await parallel_copy(url, _ticket_chunk, count, seed=seed, workers=workers)
            data.seed_seconds["tickets + timelines COPY"] = time.perf_counter() - started
        data.seed_seconds["generation CPU (overlapped)"] = cpu
        data.seed_seconds["indexes"] = timings["indexes"]
        started = time.perf_counter()
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
        data.seed_seconds["agent load + ANALYZE"] = time.perf_counter() - started
    finally:
        await conn.close()
    return data


async def settle(url: str) -> float:
    """What a loaded table looks like once the database has caught up with it: ``VACUUM``
    (hint bits and the visibility map, which the first reads of freshly copied rows would
    otherwise write, page by page, while they are measured) then ``CHECKPOINT`` (the
    bulk load's dirty pages written now, not by a spread checkpoint of ~200 s running
    under the measured requests). Not part of the seeding figure. Returns seconds."""
    started = time.perf_counter()
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute("VACUUM")
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()
    return time.perf_counter() - started


async def _seed_list(
    url: str, table: str, make: ChunkMaker, tenants: list[str], count: int, seed: int
) -> Dataset:
    data = Dataset(big_tenant=tenants[0])
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await _known_tenants(conn, tenants)
        started = time.perf_counter()
        async with bulk_load(url, table) as timings:
            cpu = await parallel_copy(url, make, count, seed=seed)
            data.seed_seconds[f"{table} COPY"] = time.perf_counter() - started
        data.seed_seconds["generation CPU (overlapped)"] = cpu
        data.seed_seconds["indexes"] = timings["indexes"]
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return data


async def seed_bugs(url: str, count: int, *, seed: int = 15) -> Dataset:
    tenants, _ = _tenants(max(20, count // 50))
    return await _seed_list(url, "bugs", bug_chunk, tenants, count, seed)


async def seed_invoices(url: str, count: int, *, seed: int = 15) -> Dataset:
    tenants, _ = _tenants(max(20, count // 100))
    return await _seed_list(url, "invoices", _invoice_chunk, tenants, count, seed)


# --- load -----------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile by rank (the value below which ``q`` of them lie); NaN if none."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


SLOW_MS = 50.0
"""A request slower than this is a "slow request" the report explains (the target p99)."""
STALL_S = 0.025
"""A service event-loop lag at least this long counts as a stall in the report."""


@dataclass
class Stats:
    latencies_ms: list[float]
    errors: int
    timeouts: int
    late_ms: list[float] = field(default_factory=list)
    """Per request (same order as ``latencies_ms``): how late the load generator sent it
    after its scheduled time. A slow request that was also sent late was held up in the
    load generator (its event loop, its process not scheduled), not in the service."""
    app_ms: list[float] = field(default_factory=list)
    """Per request: the service's own time, from its ``Server-Timing: app;dur=`` header
    (request entering the app to the response start); NaN when there was no answer."""
    cpu_ms: list[float] = field(default_factory=list)
    """Per request: the CPU the service's process used meanwhile (``cpu;dur=``); the rest
    of ``app_ms`` it waited (for PostgreSQL, or for a core)."""
    loop_stalls: dict[tuple[str, float], int] = field(default_factory=dict)
    """The served service's event-loop lags during the cell (its ``event_loop_lag_seconds``
    histogram, before/after): how many exceeded each bucket bound (seconds), by where
    the time went (``on_cpu``: the loop ran code; ``off_cpu``: the process waited)."""

    def slowest(self, n: int = 3) -> list[tuple[float, float]]:
        """The ``n`` slowest requests as (latency, send lateness) in ms: what a p99 is."""
        return sorted(zip(self.latencies_ms, self.late_ms, strict=True), reverse=True)[:n]

    def percentile(self, q: float) -> float:
        return percentile(self.latencies_ms, q)

    def splits(self) -> list[Split]:
        """Every slow request (> ``SLOW_MS``), slowest first, split into its parts."""
        nan = [float("nan")] * len(self.latencies_ms)
        found = [
            Split(total, late, served, cpu)
            for total, late, served, cpu in zip(
                self.latencies_ms,
                self.late_ms,
                self.app_ms or nan,
                self.cpu_ms or nan,
                strict=True,
            )
            if total > SLOW_MS
        ]
        return sorted(found, key=lambda split: split.total, reverse=True)

    def stalls(self, where: str, at_least: float = STALL_S) -> int:
        return self.loop_stalls.get((where, at_least), 0)


@dataclass(frozen=True)
class Split:
    """One slow request's time (ms, from its scheduled time to its response) in parts: how
    late the load generator sent it; the service's own time (``Server-Timing: app``), of
    which ``cpu`` its process spent on the CPU and the remainder it waited (for PostgreSQL
    or for a core); and the rest: the connection and both processes waiting for a core
    (or, if the service's loop was blocked before it read the request, that wait: see
    ``Stats.loop_stalls``)."""

    total: float
    late: float
    app: float  # NaN: no Server-Timing (a timeout)
    cpu: float = float("nan")

    @property
    def rest(self) -> float:
        return max(0.0, self.total - self.late - (0.0 if self.app != self.app else self.app))

    @property
    def parts(self) -> dict[str, float]:
        if self.app != self.app:  # NaN: timed out, the service never answered in time
            return {"generator": self.late, "service wait": self.total - self.late}
        cpu = min(self.app, 0.0 if self.cpu != self.cpu else self.cpu)
        return {
            "generator": self.late,
            "service CPU": cpu,
            "service wait": self.app - cpu,
            "rest": self.rest,
        }

    @property
    def cause(self) -> str:
        """The largest part: which one made this request slow."""
        parts = self.parts
        return max(parts, key=lambda k: parts[k])

    def __str__(self) -> str:
        if self.app != self.app:
            return f"{self.total:.0f} ms = {self.late:.0f} late + timed out"
        p = self.parts
        return (
            f"{self.total:.0f} ms = {self.late:.0f} late + {self.app:.0f} app "
            f"({p['service CPU']:.0f} CPU) + {self.rest:.0f} rest"
        )


@dataclass(frozen=True)
class Probe:
    """One console request: a name, a target p99 (ms) and what to send. Plain data, so a
    load generator in another process can send it: ``{n}`` in the body's strings is
    replaced by the request's number (a ticket create needs unique values)."""

    name: str
    target_ms: float | None
    path: str
    headers: dict[str, str]
    method: str = "GET"
    body: dict[str, Any] | None = None

    def send(self, client: httpx.AsyncClient, n: int = 0) -> Any:
        if self.body is None:
            return client.request(self.method, self.path, headers=self.headers)
        return client.request(
            self.method, self.path, headers=self.headers, json=_fill(self.body, n)
        )


def _fill(value: Any, n: int) -> Any:
    if isinstance(value, str):
        return value.replace("{n}", str(n))
    if isinstance(value, dict):
        return {k: _fill(v, n) for k, v in value.items()}
    return value


def _timings(response: httpx.Response) -> tuple[float, float]:
    """The service's ``Server-Timing: app;dur=<ms>, cpu;dur=<ms>`` (NaN without them)."""
    found = {"app": float("nan"), "cpu": float("nan")}
    for part in response.headers.get("server-timing", "").split(","):
        name, _, params = part.strip().partition(";")
        if name in found and params.startswith("dur="):
            found[name] = float(params[4:])
    return found["app"], found["cpu"]


async def open_model(
    client: httpx.AsyncClient, probe: Probe, *, rate: float, seconds: float, timeout: float
) -> Stats:
    """``rate`` requests per second for ``seconds``, each at its scheduled time whatever
    the previous ones are doing; latency counts from the scheduled time."""
    loop = asyncio.get_running_loop()
    total = max(1, int(rate * seconds))
    start = loop.time() + 0.05
    latencies: list[float] = []
    late: list[float] = []
    app: list[float] = []
    cpu: list[float] = []
    counts = {"errors": 0, "timeouts": 0}

    async def one(n: int, due: float) -> None:
        await asyncio.sleep(max(0.0, due - loop.time()))
        sent_late = (loop.time() - due) * 1000
        try:
            response = await asyncio.wait_for(probe.send(client, n), timeout)
        except TimeoutError:
            counts["timeouts"] += 1
            latencies.append(timeout * 1000)
            late.append(sent_late)
            app.append(float("nan"))
            cpu.append(float("nan"))
            return
        latencies.append((loop.time() - due) * 1000)
        late.append(sent_late)
        served, used = _timings(response)
        app.append(served)
        cpu.append(used)
        if response.status_code >= 400:
            counts["errors"] += 1

    await asyncio.gather(*(one(n, start + n / rate) for n in range(total)))
    return Stats(latencies, counts["errors"], counts["timeouts"], late, app, cpu)


def generate_load(
    base_url: str, probe: Probe, rate: float, seconds: float, timeout: float, warm: int
) -> Stats:
    """One cell, run in the load generator's own process (``LoadGenerator``): a fresh loop
    and client, ``warm`` requests first (prepared statements, caches, connections), then
    the open model with the garbage collector off (300 requests make little garbage; a
    collection in the middle would send requests late)."""

    async def cell() -> Stats:
        async with httpx.AsyncClient(
            base_url=base_url,
            limits=httpx.Limits(max_connections=100),
            timeout=60.0,  # the open model times requests out itself
        ) as client:
            for n in range(warm):
                await probe.send(client, -n - 1)
            gc.collect()
            gc.disable()
            try:
                return await open_model(client, probe, rate=rate, seconds=seconds, timeout=timeout)
            finally:
                gc.enable()

    return asyncio.run(cell())


class LoadGenerator:
    """The load generator in a process of its own that does nothing else while a cell
    runs; the benchmark's process (seeding connections, the served service's pipes) only
    waits for the result. ``--in-process`` keeps the old way: the benchmark's own loop
    sends the requests (and shares a core with the app it serves in-process)."""

    def __init__(self, client: httpx.AsyncClient, base_url: str | None) -> None:
        self.client = client
        self.base_url = base_url
        self._pool: ProcessPoolExecutor | None = None
        if base_url is not None:
            # spawned, not forked: a fork of a process with a running event loop and open
            # asyncpg connections inherits both
            self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))

    async def cell(
        self, probe: Probe, *, rate: float, seconds: float, timeout: float, warm: int
    ) -> Stats:
        before = await loop_lag_buckets(self.client)
        if self._pool is None or self.base_url is None:
            for n in range(warm):
                await probe.send(self.client, -n - 1)
            stats = await open_model(
                self.client, probe, rate=rate, seconds=seconds, timeout=timeout
            )
        else:
            stats = await asyncio.get_running_loop().run_in_executor(
                self._pool,
                generate_load,
                self.base_url,
                probe,
                rate,
                seconds,
                timeout,
                warm,
            )
        after = await loop_lag_buckets(self.client)
        stats.loop_stalls = {key: int(after[key] - before.get(key, 0)) for key in after}
        return stats

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()


async def loop_lag_buckets(client: httpx.AsyncClient) -> dict[tuple[str, float], float]:
    """How many of the served service's event-loop lags exceeded each bound so far, by
    where the time went, ``(where, bound)`` (its ``event_loop_lag_seconds`` histogram;
    empty when the probe is off)."""
    text = (await client.get("/metrics")).text
    count: dict[str, float] = {}
    under: dict[tuple[str, float], float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "event_loop_lag_seconds":
            continue
        for sample in family.samples:
            where = sample.labels.get("where", "")
            if sample.name.endswith("_count"):
                count[where] = count.get(where, 0.0) + sample.value
            elif sample.name.endswith("_bucket") and sample.labels["le"] != "+Inf":
                key = (where, float(sample.labels["le"]))
                under[key] = under.get(key, 0.0) + sample.value
    return {key: count.get(key[0], 0.0) - n for key, n in under.items()}


SERVED = {
    "ticket": ("ticket_service.main:create_app", "TICKET_"),
    "escalation": ("escalation_service.main:create_app", "ESCALATION_"),
    "billing": ("billing_service.main:create_app", "BILLING_"),
}


@contextlib.asynccontextmanager
async def served(service: str, url: str, args: argparse.Namespace) -> AsyncIterator[LoadGenerator]:
    """The service in a uvicorn process of its own (``--in-process``: as an ASGI app in
    this one, which then shares one core with the load generator), and the load
    generator that sends it each cell: a process of its own too."""
    if args.in_process:
        make = {"ticket": ticket_app, "escalation": _escalation_app, "billing": _billing_app}
        async with running(make[service](url)) as client:
            yield LoadGenerator(client, None)
        return
    from benchmarks.request_path import serve

    factory, prefix = SERVED[service]
    env = {
        f"{prefix}DATABASE_URL": url,
        "KAFKA_TOPIC_PREFIX": topic_prefix(),
        "ENVIRONMENT": "test",
        "GC_FREEZE": "true",  # as deployed: on outside ENVIRONMENT=test
        # the service's loop lags, read before and after each cell: a slow request whose
        # own time (Server-Timing) was short may have waited for a blocked loop
        "EVENT_LOOP_LAG_PROBE_SECONDS": "0.01",
        "LOG_LEVEL": "WARNING",
        f"{prefix}RUN_RELAY": "false",
        f"{prefix}RUN_CONSUMERS": "false",
    }
    async with (
        serve(service, factory, env) as subject,
        httpx.AsyncClient(base_url=subject.base_url, timeout=60.0) as client,
    ):
        # ``--generator main``: the way before decision 0047, for comparison
        generator = LoadGenerator(client, subject.base_url if args.generator == "process" else None)
        try:
            yield generator
        finally:
            generator.close()


@contextlib.asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            yield client


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
        Probe(name, target, f"/v1/tickets?limit={PAGE}{params}", staff)
        for name, (params, target) in lists.items()
    ]
    probes.append(Probe("tenant-scoped token", 50, f"/v1/tickets?limit={PAGE}", scoped))
    body = {
        "tenant_id": data.big_tenant,
        "requester": {"email": "bench{n}@example.com", "name": "Bench"},
        "channel": "email",
        "subject": "Invoice {n} was charged twice",
        "body": "Hello, our card was charged twice for the same invoice this month.",
    }
    probes.append(Probe("ticket create", None, "/v1/tickets", staff, "POST", body))
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
            notes[f"tickets {count:,} seeded in"] = _seeded(time.perf_counter() - started, data)
            notes[f"tickets {count:,} settled (VACUUM, CHECKPOINT) in"] = (
                f"{await settle(url):.1f} s"
            )
            async with served("ticket", url, args) as generator:
                staff = auth("agent", subject="bench-agent")
                deep = await cursor_deep(
                    generator.client, f"/v1/tickets?limit={PAGE}", staff, args.deep_pages
                )
                probes = ticket_probes(data, deep)
                probes_order = probes
                for probe in probes:
                    # warm: 5 requests (prepared statements, caches) before each cell
                    results.setdefault(probe.name, {})[label] = await generator.cell(
                        probe, rate=args.rate, seconds=args.seconds, timeout=args.timeout, warm=5
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
            notes[f"{kind} {count:,} seeded in"] = _seeded(time.perf_counter() - started, data)
            notes[f"{kind} {count:,} settled (VACUUM, CHECKPOINT) in"] = (
                f"{await settle(url):.1f} s"
            )
            async with served(kind, url, args) as generator:
                deep = await cursor_deep(
                    generator.client, f"{path}?limit={PAGE}", headers, args.deep_pages
                )
                probes = {
                    "first page": f"{path}?limit={PAGE}",
                    "status filter": f"{path}?limit={PAGE}&{status}",
                    "tenant": f"{path}?limit={PAGE}&tenant_id={data.big_tenant}",
                    "cursor deep": f"{path}?limit={PAGE}&cursor={deep}",
                }
                for probe_name, url_ in probes.items():
                    probe = Probe(probe_name, 50, url_, headers)
                    if probe_name not in names:
                        names.append(probe_name)
                    results.setdefault(probe_name, {})[label] = await generator.cell(
                        probe, rate=args.rate, seconds=args.seconds, timeout=args.timeout, warm=1
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
        return f"{target_verdict(ratio, 1.2, False)} ({ratio:.2f}x of small p50, target <= 1.2x)"
    return target_verdict(large.percentile(0.99), row.target_ms, False)


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
    lines += ["", *attribution(rows, sizes)]
    return "\n".join(lines)


def attribution(rows: list[Row], sizes: tuple[int, int]) -> list[str]:
    """Where each slow request's time went (``Split``), per cell: how many were slow, how
    many the service explains (its own time, ``Server-Timing``, was the largest part),
    how many the load generator (sent late) and how many the rest (connection, the
    processes waiting for a core, or the service's loop blocked before it read the
    request: the cell's loop stalls say whether it was)."""
    lines = [
        f"Slow requests (> {SLOW_MS:g} ms), each split into: late (the load generator sent it "
        "late) + app (the service's Server-Timing; of it, CPU its process used, the remainder "
        "waiting for PostgreSQL or a core) + rest (connection, both processes waiting for a "
        "core, or the service's loop blocked before reading it); each is blamed on its largest "
        f"part. 'loop stalls' = the service's event-loop lags >= {STALL_S * 1000:g} ms during "
        "the cell, on CPU (its loop ran code) / off CPU (it waited for a core or a blocking "
        "call):",
    ]
    totals: collections.Counter[str] = collections.Counter()
    for row in rows:
        for label, stats in ((f"{sizes[0]:,}", row.small), (f"{sizes[1]:,}", row.large)):
            splits = stats.splits()
            if not splits:
                continue
            causes = collections.Counter(split.cause for split in splits)
            totals.update(causes)
            totals["slow"] += len(splits)
            stalls = (
                f"{stats.stalls('on_cpu')} on CPU / {stats.stalls('off_cpu')} off CPU"
                if stats.loop_stalls
                else "not measured"
            )
            lines.append(
                f"- {row.name} ({label}): slow requests: {len(splits)}; "
                + _blame(causes)
                + f"; loop stalls: {stalls}; slowest: "
                + "; ".join(str(split) for split in splits[:3])
            )
    every = [stats for row in rows for stats in (row.small, row.large) if stats.loop_stalls]
    stalls = (
        f"the service's loop stalls (>= {STALL_S * 1000:g} ms) in all cells: "
        f"{sum(st.stalls('on_cpu') for st in every)} on CPU / "
        f"{sum(st.stalls('off_cpu') for st in every)} off CPU"
        if every
        else "the service's loop stalls: not measured"
    )
    if totals["slow"] == 0:
        return [f"No request slower than {SLOW_MS:g} ms; {stalls}."]
    lines.append(f"- all cells: slow requests: {totals['slow']}; " + _blame(totals) + f"; {stalls}")
    return lines


def _blame(causes: collections.Counter[str]) -> str:
    service = causes["service CPU"] + causes["service wait"]
    return (
        f"explained by the service: {service} ({causes['service CPU']} CPU, "
        f"{causes['service wait']} waiting), the generator: {causes['generator']}, "
        f"the rest: {causes['rest']}"
    )


async def seed_only(args: argparse.Namespace) -> dict[str, Any]:
    """Only the large data sets' seeding, timed (``--seed-only``): its split is what
    the 1-minute target is about, without the 20 minutes of requests."""
    notes: dict[str, Any] = {}
    for kind, count, seed in (
        ("ticket", args.tickets, seed_tickets),
        ("escalation", args.bugs, seed_bugs),
        ("billing", args.invoices, seed_invoices),
    ):
        if count <= 0:
            continue
        name, url = await migrated_database(f"bench_seed_{kind}", MIGRATIONS[kind])
        try:
            started = time.perf_counter()
            data = await seed(url, count)
            notes[f"{kind} {count:,} rows seeded in"] = _seeded(time.perf_counter() - started, data)
        finally:
            await drop_database(name)
    return {"tables": [], "notes": notes, "rows": {}}


def _seeded(seconds: float, data: Dataset) -> str:
    split = ", ".join(f"{k} {v:.1f} s" for k, v in data.seed_seconds.items())
    return f"{seconds:.1f} s ({split})"


async def main(args: argparse.Namespace) -> dict[str, Any]:
    if args.seed_only:
        return await seed_only(args)
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
    p.add_argument(
        "--generator",
        choices=("process", "main"),
        default="process",
        help="where the load generator runs: a spawned process of its own (default) or the "
        "benchmark's own event loop (as before; to compare)",
    )
    p.add_argument("--deep-pages", type=int, default=DEEP_PAGES, help="the deep cursor's page")
    p.add_argument(
        "--seed-only",
        action="store_true",
        help="only seed the large data sets and print the time each step took",
    )
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
