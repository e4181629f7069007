"""The API tour (`make api-tour`, docs/api-tour.md) against the real stack: every request it
shows is made and answers the status its text describes (``Tour.call`` insists on it), so
the published walkthrough cannot drift from the API unnoticed, as it once did."""

from __future__ import annotations

import secrets
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from stack import Stack
from test_demo import services_of, webhook_secret_of

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from scripts.api_tour import Exchange, Tour, render
from scripts.devclient import Api, Tokens


@pytest.mark.timeout(300)
async def test_the_api_tour_runs_every_request_it_documents(stack: Stack) -> None:
    billing = stack["billing-service"]
    seeded = subprocess.run(  # the monthly plans `make up` seeds; idempotent
        [str(Path(sys.executable).parent / "billing-service"), "seed-plans"],
        env=billing.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert seeded.returncode == 0, seeded.stderr
    services = services_of(stack)
    async with Api(services, Tokens.from_settings(), concurrency=4, subject_prefix="tour") as api:
        tour = Tour(api, run_id=secrets.token_hex(3), webhook_secret=webhook_secret_of(stack))
        await tour.run()

    exchanges = [p for s in tour.sections for p in s.parts if isinstance(p, Exchange)]
    titles = [s.title for s in tour.sections]
    assert len(titles) == len(set(titles)) >= 10
    assert all(any(isinstance(p, Exchange) for p in s.parts) for s in tour.sections), titles
    # each service is visited, and the tour shows errors as well as successes
    assert {e.url.split("/v1/")[0] for e in exchanges} == {url for _, url in services.items()}
    assert any(e.status >= 400 for e in exchanges)
    assert any(200 <= e.status < 300 for e in exchanges)
    document = render(tour, services, generated_at=datetime.now(UTC))
    for number, title in enumerate(titles, start=1):
        assert f"## {number}. {title}" in document
