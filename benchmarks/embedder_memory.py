"""RSS of the escalation-service idle, after 100 and after 200 bug filings, against a bare
FastAPI process idle (decision 0041: the report encoder's memory, indicative).

    uv run --frozen python -m benchmarks.embedder_memory

The service runs as ``benchmarks.memory`` runs it (its own uvicorn process, relay and
consumers on, a migrated throwaway database, a fresh topic prefix); bugs are filed one
after the other by ``benchmarks.memory.BugMix`` (each report embedded by the encoder), so
the figures are what 100 filings cost, not a load test. Each filing's time is printed
too (p50/p99 of the whole request, wall-clock: noisy on a shared machine).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time

import asyncpg
import httpx

from benchmarks.memory import MIGRATIONS, BugMix, _settled_rss
from benchmarks.request_path import BENCH_TENANTS, serve
from servicekit.testing import drop_database, migrated_database, topic_prefix

SETTLE = 3.0


async def main() -> dict[str, float]:
    async with serve("bare", "benchmarks.request_path:bare_app", {}) as bare:
        bare_idle = await _settled_rss(bare, SETTLE)
    name, url = await migrated_database("bench_embed", MIGRATIONS["escalation-service"])
    # the tenants BugMix files for, known as if onboarding had announced them
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.executemany(
            "INSERT INTO known_tenants (tenant_id, status, heard_at)"
            " VALUES ($1, 'activated', now()) ON CONFLICT DO NOTHING",
            [(t,) for t in BENCH_TENANTS],
        )
    finally:
        await conn.close()
    out: dict[str, float] = {"bare_idle_mib": round(bare_idle, 1)}
    try:
        env = {
            "ESCALATION_DATABASE_URL": url,
            "KAFKA_TOPIC_PREFIX": topic_prefix(),
            "ENVIRONMENT": "test",
            "LOG_LEVEL": "WARNING",
        }
        async with serve("escalation-service", "escalation_service.main:create_app", env) as svc:
            out["idle_mib"] = round(await _settled_rss(svc, SETTLE), 1)
            mix = BugMix()
            timings: list[float] = []
            async with httpx.AsyncClient(base_url=svc.base_url, timeout=30) as client:
                for n in range(200):
                    started = time.perf_counter()
                    response = await mix.create(client, n)
                    timings.append((time.perf_counter() - started) * 1000)
                    assert response.status_code in (200, 201), response.text
                    if n == 99:
                        out["after_100_filings_mib"] = round(svc.rss_mib(), 1)
            out["after_200_filings_mib"] = round(svc.rss_mib(), 1)
            timings.sort()
            out["filing_ms_p50"] = round(statistics.median(timings), 1)
            out["filing_ms_p99"] = round(timings[int(len(timings) * 0.99) - 1], 1)
    finally:
        await drop_database(name)
    out["idle_ratio_to_bare"] = round(out["idle_mib"] / bare_idle, 2)
    return out


if __name__ == "__main__":
    sys.stdout.write(json.dumps(asyncio.run(main()), indent=1) + "\n")
