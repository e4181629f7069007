"""Memory benchmark: the four services' resident memory over a long steady load, against
a bare FastAPI process idle.

    make bench-memory          (or: uv run python -m benchmarks.memory --minutes 10)

Each service runs in a uvicorn process of its own, as deployed: relay and consumers on,
against the shared Kafka with one fresh topic prefix (the services hear each other's
events), a migrated throwaway database each, outbound mail to an SMTP sink in this
process (not the shared Mailpit: a 10-minute run would flood it). All four are driven at
once at a fixed arrival rate (``--rate`` per service, open model) with a mix of that
service's requests — creates, gets, lists and updates — for ``--minutes``; the RSS of
every process is read from ``/proc`` every ``--sample-seconds``.

Reported per service: idle RSS (started, ready, no request), RSS after the warm-up
(``--warmup-seconds`` of load), at the end and the max, and the slope after the warm-up
(MiB/min, least squares). Verdicts: idle ≤ 1.5x the bare FastAPI idle; flat = the end
within 10 % of the post-warm-up RSS and a slope below 0.5 MiB/min.

``--tracemalloc``: the services run with ``tracemalloc`` on and write a snapshot after the
warm-up and at the end; the largest growths between the two are printed (what grew, by
line) — slower, for finding a leak, not for the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import statistics
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from benchmarks.request_path import BENCH_TENANTS, ROOT, Subject, seed_tenants, serve
from benchmarks.targets import verdict as target_verdict
from servicekit.testing import auth, drop_database, migrated_database, topic_prefix

MIGRATIONS = {
    name: ROOT / f"services/{name}/src/{name.replace('-', '_')}/migrations"
    for name in ("ticket-service", "billing-service", "onboarding-service", "escalation-service")
}
FACTORIES = {
    "ticket-service": ("ticket_service.main:create_app", "TICKET_"),
    "billing-service": ("billing_service.main:create_app", "BILLING_"),
    "onboarding-service": ("onboarding_service.main:create_app", "ONBOARDING_"),
    "escalation-service": ("escalation_service.main:create_app", "ESCALATION_"),
}
IDLE_TARGET = 1.5  # x the bare FastAPI process idle
FLAT_END = 0.10  # the end within 10 % of the post-warm-up RSS
FLAT_SLOPE = 0.5  # MiB per minute after the warm-up
MERGE_PATCH = "application/merge-patch+json"


# --- the SMTP sink --------------------------------------------------------------------------


async def _smtp_session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Just enough SMTP to accept every mail and forget it."""
    writer.write(b"220 sink ESMTP\r\n")
    try:
        while line := await reader.readline():
            verb = line[:4].upper()
            if verb == b"DATA":
                writer.write(b"354 go ahead\r\n")
                while await reader.readline() not in (b".\r\n", b""):
                    pass
                writer.write(b"250 accepted\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                break
            elif verb == b"EHLO":
                writer.write(b"250-sink\r\n250 8BITMIME\r\n")
            else:
                writer.write(b"250 ok\r\n")
            await writer.drain()
    finally:
        writer.close()


# --- the request mixes ------------------------------------------------------------------------


@dataclass
class Known:
    """Resources a mix created (id → ETag), to get and update them later."""

    items: dict[str, str] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)

    def add(self, item_id: str, tag: str) -> None:
        if item_id not in self.items:
            self.order.append(item_id)
        self.items[item_id] = tag

    def refresh(self, item_id: str, tag: str) -> None:
        """A newer ETag, unless the item was forgotten meanwhile."""
        if item_id in self.items:
            self.items[item_id] = tag

    def forget(self, item_id: str) -> None:
        if self.items.pop(item_id, None) is not None:
            self.order.remove(item_id)

    def pick(self, n: int) -> tuple[str, str] | None:
        if not self.order:
            return None
        item_id = self.order[n % len(self.order)]
        return item_id, self.items[item_id]


Send = Callable[[httpx.AsyncClient, int], Awaitable[tuple[str, httpx.Response]]]


class Mix:
    """One service's requests, in a fixed proportion: ``pattern`` names the kind of each
    of 20 consecutive requests (creates, gets, lists, updates)."""

    pattern: str = "cgglcgulgcglcgulgglu"  # c 5, g 8, l 4, u 3

    def __init__(self) -> None:
        self.known = Known()

    async def send(self, client: httpx.AsyncClient, n: int) -> tuple[str, httpx.Response]:
        kind = self.pattern[n % len(self.pattern)]
        picked = self.known.pick(n * 7919)  # spread over what exists
        if kind == "c" or picked is None:
            response = await self.create(client, n)
            if response.status_code < 300:
                self.remember(response)
            return "create", response
        if kind == "g":
            response = await self.get(client, picked[0])
            if response.status_code < 300:
                self.known.refresh(picked[0], response.headers.get("etag", picked[1]))
            return "get", response
        if kind == "l":
            return "list", await self.list(client, n)
        response = await self.update(client, n, *picked)
        for _ in range(3):
            if response.status_code != 412:
                break
            # another change came first (a request, or the service reacting to an event):
            # what a client does — read the current version and try again
            fresh = await self.get(client, picked[0])
            tag = fresh.headers.get("etag", picked[1])
            self.known.refresh(picked[0], tag)
            response = await self.update(client, n, picked[0], tag)
        if response.status_code < 300:
            self.updated(picked[0], response)
        return "update", response

    def updated(self, item_id: str, response: httpx.Response) -> None:
        self.remember(response)

    def remember(self, response: httpx.Response) -> None:
        body = response.json()
        body = body.get("bug") or body.get("tenant") or body
        self.known.add(str(body["id"]), response.headers.get("etag", f'"{body["version"]}"'))

    async def create(self, client: httpx.AsyncClient, n: int) -> httpx.Response:
        raise NotImplementedError

    async def get(self, client: httpx.AsyncClient, item_id: str) -> httpx.Response:
        raise NotImplementedError

    async def list(self, client: httpx.AsyncClient, n: int) -> httpx.Response:
        raise NotImplementedError

    async def update(
        self, client: httpx.AsyncClient, n: int, item_id: str, tag: str
    ) -> httpx.Response:
        raise NotImplementedError


class TicketMix(Mix):
    headers = auth("agent", subject="bench-agent")

    async def create(self, client: httpx.AsyncClient, n: int) -> httpx.Response:
        body = {
            "tenant_id": BENCH_TENANTS[n % len(BENCH_TENANTS)],
            "requester": {"email": f"pat{n}@example.com", "name": "Pat"},
            "channel": "email",
            "subject": f"Invoice {n} was charged twice",
            "body": "Hello, our card was charged twice for the same invoice this month.",
        }
        return await client.post("/v1/tickets", json=body, headers=self.headers)

    async def get(self, client: httpx.AsyncClient, item_id: str) -> httpx.Response:
        return await client.get(f"/v1/tickets/{item_id}", headers=self.headers)

    async def list(self, client: httpx.AsyncClient, n: int) -> httpx.Response:
        query = ("", "&status=new", "&queue=billing", "&q=invoice")[n % 4]
        return await client.get(f"/v1/tickets?limit=50{query}", headers=self.headers)

    async def update(
        self, client: httpx.AsyncClient, n: int, item_id: str, tag: str
    ) -> httpx.Response:
        patch = {"priority": ("low", "normal", "high")[n % 3], "tags": [f"t{n % 5}"]}
        return await client.patch(
            f"/v1/tickets/{item_id}",
            content=_json(patch),
            headers={**self.headers, "If-Match": tag, "Content-Type": MERGE_PATCH},
        )


class BugMix(Mix):
    headers = auth("qa", subject="bench-qa")

    async def create(self, client: httpx.AsyncClient, n: int) -> httpx.Response:
        body = {
            "tenant_id": BENCH_TENANTS[n % len(BENCH_TENANTS)],
            "title": f"Export {n} fails with a timeout on large workspaces",
            "summary": "The CSV export stops after 30 seconds.",
            "expected": "The file downloads.",
            "actual": "A timeout error.",
            "severity": ("low", "medium", "high")[n % 3],
            "force_new": True,
        }
        return await client.post("/v1/bugs", json=body, headers=self.headers)

    async def get(self, client: httpx.AsyncClient, item_id: str) -> httpx.Response:
        return await client.get(f"/v1/bugs/{item_id}", headers=self.headers)

    async def list(self, client: httpx.AsyncClient, n: int) -> httpx.Response:
        query = ("", "&status=reported", "&severity=high")[n % 3]
        return await client.get(f"/v1/bugs?limit=20{query}", headers=self.headers)

    async def update(
        self, client: httpx.AsyncClient, n: int, item_id: str, tag: str
    ) -> httpx.Response:
        return await client.patch(
            f"/v1/bugs/{item_id}",
            content=_json({"summary": f"The CSV export stops after {n % 60} seconds."}),
            headers={**self.headers, "If-Match": tag, "Content-Type": MERGE_PATCH},
        )


class TenantMix(Mix):
    headers = auth("onboarding", subject="bench-onboarding")

    async def create(self, client: httpx.AsyncClient, n: int) -> httpx.Response:
        slug = uuid.uuid4().hex[:10]
        body = {
            "company_name": f"Acme {slug}",
            "domains": [f"acme-{slug}.com"],
            "plan_code": "team-monthly",
            "seats": 5,
            "billing": {
                "collection_method": "charge_automatically",
                "billing_email": f"billing@acme-{slug}.com",
            },
            "configuration": {"locale": "en-US", "timezone": "Europe/Berlin"},
            "admin": {"email": f"admin@acme-{slug}.com", "name": "Ada Admin"},
        }
        return await client.post("/v1/tenants", json=body, headers=self.headers)

    async def get(self, client: httpx.AsyncClient, item_id: str) -> httpx.Response:
        return await client.get(f"/v1/tenants/{item_id}", headers=self.headers)

    async def list(self, client: httpx.AsyncClient, n: int) -> httpx.Response:
        query = ("", "&status=onboarding", "&q=acme")[n % 3]
        return await client.get(f"/v1/tenants?limit=50{query}", headers=self.headers)

    async def update(
        self, client: httpx.AsyncClient, n: int, item_id: str, tag: str
    ) -> httpx.Response:
        return await client.patch(
            f"/v1/tenants/{item_id}",
            content=_json({"company_name": f"Acme renamed {n}"}),
            headers={**self.headers, "If-Match": tag, "Content-Type": MERGE_PATCH},
        )


class PlanMix(Mix):
    admin = auth("admin", subject="bench-admin")
    reader = auth("billing", subject="bench-billing")

    async def create(self, client: httpx.AsyncClient, n: int) -> httpx.Response:
        body = {
            "code": f"bench-{uuid.uuid4().hex[:12]}",
            "name": f"Bench plan {n}",
            "tier": ("starter", "team", "business")[n % 3],
            "unit_amount": 900 + n % 100,
            "currency": "usd",
            "interval": "month",
        }
        return await client.post("/v1/plans", json=body, headers=self.admin)

    async def get(self, client: httpx.AsyncClient, item_id: str) -> httpx.Response:
        return await client.get(f"/v1/plans/{item_id}", headers=self.reader)

    async def list(self, client: httpx.AsyncClient, n: int) -> httpx.Response:
        path = ("/v1/plans?limit=50", "/v1/invoices?limit=50", "/v1/invoices?limit=50&status=open")
        return await client.get(path[n % 3], headers=self.reader)

    async def update(
        self, client: httpx.AsyncClient, n: int, item_id: str, tag: str
    ) -> httpx.Response:
        # archiving is the one change a plan takes (once: a second one is a 409), so the
        # plan is no longer picked from here on, whatever the answer
        self.known.forget(item_id)
        return await client.post(
            f"/v1/plans/{item_id}/archive", headers={**self.admin, "If-Match": tag}
        )

    def updated(self, item_id: str, response: httpx.Response) -> None:
        pass  # archived: forgotten when picked


MIXES: dict[str, Callable[[], Mix]] = {
    "ticket-service": TicketMix,
    "billing-service": PlanMix,
    "onboarding-service": TenantMix,
    "escalation-service": BugMix,
}


def _json(value: Any) -> bytes:
    import json

    return json.dumps(value).encode()


# --- load and sampling ------------------------------------------------------------------------


@dataclass
class Trace:
    """One service under load: its RSS samples and what its requests answered."""

    idle_mib: float = 0.0
    samples: list[tuple[float, float]] = field(default_factory=list)  # (s since load, MiB)
    # (s since load, RssAnon MiB, RssFile MiB): the heap's share of the RSS, and pages of
    # mapped files (code, libraries) touched for the first time, which only ever step up
    kinds: list[tuple[float, float, float]] = field(default_factory=list)
    answers: Counter[str] = field(default_factory=Counter)  # "create 201", …
    errors: int = 0


async def drive(subject: Subject, mix: Mix, trace: Trace, *, rate: float, total: int) -> None:
    """``total`` requests at ``rate`` per second, each at its due time (open model)."""
    loop = asyncio.get_running_loop()
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(base_url=subject.base_url, limits=limits, timeout=30) as client:
        tasks: set[asyncio.Task[None]] = set()
        start = loop.time()

        async def one(n: int) -> None:
            try:
                kind, response = await mix.send(client, n)
            except httpx.HTTPError as exc:
                trace.answers[f"{type(exc).__name__}"] += 1
                trace.errors += 1
                return
            trace.answers[f"{kind} {response.status_code}"] += 1
            if response.status_code >= 400:
                trace.errors += 1

        for n in range(total):
            due = start + n / rate
            await asyncio.sleep(max(0.0, due - loop.time()))
            task = asyncio.create_task(one(n))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks, timeout=30)


async def sample(
    subjects: dict[str, Subject], traces: dict[str, Trace], *, every: float, until: float
) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    for n in itertools.count(1):
        now = loop.time()
        for name, subject in subjects.items():
            traces[name].samples.append((now - start, subject.rss_mib()))
            kinds = subject.status_mib("RssAnon", "RssFile")
            traces[name].kinds.append((now - start, kinds["RssAnon"], kinds["RssFile"]))
        if now + every > until + 0.5 * every:
            break
        await asyncio.sleep(max(0.0, start + n * every - loop.time()))


def kinds_line(trace: Trace, warmup: float) -> str:
    """The heap's and the mapped files' RSS after the warm-up, at the end, and the
    heap's slope: growth of the files' share is pages touched once, not a leak."""
    after = [k for k in trace.kinds if k[0] >= warmup] or trace.kinds[-1:]
    if not after:
        return "no samples"
    (_, anon0, file0), (_, anon1, file1) = after[0], after[-1]
    slope = 0.0
    if len(after) >= 2:
        minutes, heap = [t / 60 for t, *_ in after], [a for _, a, _ in after]
        slope = statistics.linear_regression(minutes, heap).slope
    return (
        f"heap {anon0:.1f} → {anon1:.1f} ({anon1 - anon0:+.1f}, {slope:+.2f}/min), "
        f"files {file0:.1f} → {file1:.1f} ({file1 - file0:+.1f})"
    )


# --- the run ------------------------------------------------------------------------------------


@dataclass
class Summary:
    name: str
    idle: float
    warm: float
    end: float
    peak: float
    slope: float  # MiB/min after the warm-up
    requests: int
    errors: int
    bare: float

    @property
    def idle_ratio(self) -> float:
        return self.idle / self.bare

    @property
    def flat(self) -> bool:
        return abs(self.end - self.warm) <= FLAT_END * self.warm and self.slope < FLAT_SLOPE

    @property
    def verdict(self) -> str:
        size = target_verdict(self.idle_ratio, IDLE_TARGET, False)
        return f"idle {size}, {'flat' if self.flat else 'GROWS'}"


def summarize(name: str, trace: Trace, bare: float, warmup: float) -> Summary:
    after = [(t, mib) for t, mib in trace.samples if t >= warmup] or trace.samples[-1:]
    slope = 0.0
    if len(after) >= 2:
        fit = statistics.linear_regression([t / 60 for t, _ in after], [m for _, m in after])
        slope = fit.slope
    return Summary(
        name=name,
        idle=trace.idle_mib,
        warm=after[0][1],
        end=trace.samples[-1][1],
        peak=max(m for _, m in trace.samples),
        slope=slope,
        requests=sum(trace.answers.values()),
        errors=trace.errors,
        bare=bare,
    )


async def _settled_rss(subject: Subject, settle: float) -> float:
    await asyncio.sleep(settle)
    return subject.rss_mib()


@contextlib.asynccontextmanager
async def _smtp_sink() -> AsyncIterator[int]:
    server = await asyncio.start_server(_smtp_session, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()


async def main(args: argparse.Namespace) -> dict[str, Any]:
    seconds = args.minutes * 60
    warmup = min(args.warmup_seconds, seconds / 2)
    async with serve("bare", "benchmarks.request_path:bare_app", {}) as bare:
        bare_idle = await _settled_rss(bare, args.settle)
    prefix = topic_prefix()  # one for all four: they hear each other's events
    databases: dict[str, tuple[str, str]] = {}
    traces = {name: Trace() for name in FACTORIES}
    snapshots = Path(args.snapshot_dir)
    try:
        for service, migrations in MIGRATIONS.items():
            databases[service] = await migrated_database(f"bench_mem_{service[:4]}", migrations)
        await _known(databases)
        async with contextlib.AsyncExitStack() as stack:
            smtp_port = await stack.enter_async_context(_smtp_sink())
            subjects: dict[str, Subject] = {}
            for service, (factory, env_prefix) in FACTORIES.items():
                env = {
                    f"{env_prefix}DATABASE_URL": databases[service][1],
                    "KAFKA_TOPIC_PREFIX": prefix,
                    "ENVIRONMENT": "test",
                    "GC_FREEZE": "true",  # as deployed: on outside ENVIRONMENT=test
                    "LOG_LEVEL": "WARNING",
                    "SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
                }
                if args.tracemalloc:
                    env["BENCH_TRACEMALLOC_DIR"] = str(snapshots / service)
                    factory = f"benchmarks.memory:traced_{env_prefix.lower().rstrip('_')}"
                subjects[service] = await stack.enter_async_context(serve(service, factory, env))
            await asyncio.sleep(args.settle)
            for service, subject in subjects.items():
                traces[service].idle_mib = subject.rss_mib()
            loop = asyncio.get_running_loop()
            until = loop.time() + seconds
            total = int(args.rate * seconds)
            mixes = {service: MIXES[service]() for service in subjects}
            tasks = [
                drive(subjects[s], mixes[s], traces[s], rate=args.rate, total=total)
                for s in subjects
            ]
            if args.tracemalloc:
                tasks.append(_snapshots(subjects, loop.time() + warmup, until))
            await asyncio.gather(
                sample(subjects, traces, every=args.sample_seconds, until=until), *tasks
            )
    finally:
        for name, _ in databases.values():
            await drop_database(name)
    summaries = [summarize(s, traces[s], bare_idle, warmup) for s in FACTORIES]
    report: dict[str, Any] = {
        "bare": bare_idle,
        "summaries": summaries,
        "traces": traces,
        "table": table(summaries, bare_idle, args),
        "warmup": warmup,
    }
    if args.tracemalloc:
        report["growth"] = growth(snapshots)
    return report


async def _known(databases: dict[str, tuple[str, str]]) -> None:
    """The tenants the mixes name, known where a service answers only for known tenants
    (as if onboarding had announced them)."""
    await seed_tenants(databases["ticket-service"][1])
    for service in ("escalation-service", "billing-service"):
        url = databases[service][1].replace("postgresql+asyncpg://", "postgresql://")
        conn = await asyncpg.connect(url)
        try:
            await conn.executemany(
                "INSERT INTO known_tenants (tenant_id, status, heard_at)"
                " VALUES ($1, 'activated', now()) ON CONFLICT DO NOTHING",
                [(t,) for t in BENCH_TENANTS],
            )
        finally:
            await conn.close()


def table(summaries: list[Summary], bare: float, args: argparse.Namespace) -> str:
    lines = [
        f"## Memory: {args.rate:g} req/s per service for {args.minutes:g} min, RSS every "
        f"{args.sample_seconds:g} s (bare FastAPI idle {bare:.0f} MiB)",
        "",
        "| service | idle MiB | x bare (target ≤ 1.5x) | after warm-up | end | max "
        "| slope MiB/min (target < 0.5) | end vs warm (target ≤ 10 %) | requests | errors "
        "| verdict |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        lines.append(
            f"| {s.name} | {s.idle:.0f} | {s.idle_ratio:.2f}x | {s.warm:.0f} | {s.end:.0f} "
            f"| {s.peak:.0f} | {s.slope:+.2f} | {(s.end - s.warm) / s.warm:+.1%} "
            f"| {s.requests} | {s.errors} | {s.verdict} |"
        )
    return "\n".join(lines)


# --- tracemalloc (``--tracemalloc``) ---------------------------------------------------------


def _traced(factory: Callable[[], Any]) -> Any:
    """The service's app with tracemalloc on; SIGUSR1 writes a numbered snapshot."""
    import signal
    import tracemalloc

    tracemalloc.start(10)
    out = Path(os.environ["BENCH_TRACEMALLOC_DIR"])
    out.mkdir(parents=True, exist_ok=True)
    taken = itertools.count()

    def dump(*_: object) -> None:
        tracemalloc.take_snapshot().dump(str(out / f"{next(taken)}.snapshot"))

    signal.signal(signal.SIGUSR1, dump)
    return factory()


def traced_ticket() -> Any:
    from ticket_service.main import create_app

    return _traced(create_app)


def traced_billing() -> Any:
    from billing_service.main import create_app

    return _traced(create_app)


def traced_onboarding() -> Any:
    from onboarding_service.main import create_app

    return _traced(create_app)


def traced_escalation() -> Any:
    from escalation_service.main import create_app

    return _traced(create_app)


async def _snapshots(subjects: dict[str, Subject], warm: float, until: float) -> None:
    import signal

    loop = asyncio.get_running_loop()
    for at in (warm, until - 1):
        await asyncio.sleep(max(0.0, at - loop.time()))
        for subject in subjects.values():
            subject.process.send_signal(signal.SIGUSR1)
    await asyncio.sleep(5)  # a snapshot of a few hundred MiB takes a while to write


def growth(snapshots: Path, top: int = 15) -> dict[str, list[str]]:
    import tracemalloc

    found: dict[str, list[str]] = {}
    for service_dir in sorted(p for p in snapshots.iterdir() if p.is_dir()):
        first, last = service_dir / "0.snapshot", service_dir / "1.snapshot"
        if not (first.exists() and last.exists()):
            continue
        before = tracemalloc.Snapshot.load(str(first))
        after = tracemalloc.Snapshot.load(str(last))
        stats = after.compare_to(before, "traceback")[:top]
        found[service_dir.name] = [
            f"{s.size_diff / 1024:+.0f} KiB in {s.count_diff:+d} blocks: "
            + " <- ".join(str(f) for f in s.traceback[:4])
            for s in stats
        ]
    return found


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="memory benchmark")
    p.add_argument("--minutes", type=float, default=10.0, help="of load")
    p.add_argument("--rate", type=float, default=10.0, help="requests per second per service")
    p.add_argument("--sample-seconds", type=float, default=10.0, help="RSS sampling interval")
    p.add_argument("--warmup-seconds", type=float, default=60.0, help="load before 'warm'")
    p.add_argument("--settle", type=float, default=5.0, help="idle seconds before idle RSS")
    p.add_argument("--tracemalloc", action="store_true", help="snapshot diff of each service")
    p.add_argument("--snapshot-dir", default=str(ROOT / ".local/bench/memory"))
    return p


if __name__ == "__main__":
    result = asyncio.run(main(parser().parse_args()))
    print(result["table"])  # noqa: T201
    for service, trace in result["traces"].items():
        answers = ", ".join(f"{k} x{v}" for k, v in sorted(trace.answers.items()))
        print(f"- {service}: {answers}")  # noqa: T201
    print("\nWhere the RSS after the warm-up went (heap = RssAnon, files = RssFile, MiB):")  # noqa: T201
    for service, trace in result["traces"].items():
        print(f"- {service}: {kinds_line(trace, result['warmup'])}")  # noqa: T201
    for service, lines in result.get("growth", {}).items():
        print(f"\n### tracemalloc growth, {service} (warm-up → end)")  # noqa: T201
        for line in lines:
            print(f"- {line}")  # noqa: T201
