"""Traces you can look at (issue #19), proven on the real parts: the services export to a
real Jaeger (``deploy/local/jaeger.sh``), Jaeger copies every span over Kafka to a real
Zipkin (``deploy/local/zipkin.sh``), and Zipkin's Lens UI shows the trace in a browser.

Both are started the way a user starts a second stack's (their own state dir, free ports,
the shared broker with this test's topic prefix) and read back only through their own
HTTP APIs. One journey crosses all four services: a new customer is subscribed, paid and
onboarded (onboarding -> billing -> Stripe -> onboarding -> ticket), then opens a ticket
that is escalated as a bug (ticket -> escalation). The other journeys keep the in-test
collector (``otlp.py``): a JVM per module would cost the suite too much.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from journey import SERVICE_NAMES, Journey
from playwright.async_api import Page, async_playwright, expect
from stack import Stack, start_stack, stop_stack
from test_journey_bug import FIRST, escalate, filed_bug, open_ticket
from test_journey_new_customer import (
    create_plan,
    create_tenant,
    finish_onboarding,
    pay_first_invoice,
    subscription_of,
)
from tracing import (
    LOCAL,
    JaegerTraces,
    TraceBackends,
    TraceSpan,
    ancestors,
    broken_links,
    zipkin_trace,
)

from servicekit.testing import eventually, free_ports

pytestmark = [pytest.mark.infra, pytest.mark.timeout(420)]

ALL_FOUR = sorted(SERVICE_NAMES.values())
CHROMIUM = os.environ.get("SUPPORTOPS_CHROMIUM", "/usr/bin/chromium")
HAVE_CHROMIUM = Path(CHROMIUM).exists()
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # root in a container: Chromium's sandbox needs user namespaces
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class TracedJourney:
    backends: TraceBackends
    trace_id: str
    tenant_id: str
    ticket_id: str
    bug_id: str


@pytest.fixture(scope="module")
async def backends() -> AsyncIterator[TraceBackends]:
    running = TraceBackends.create(free_ports(6))
    try:
        await asyncio.to_thread(running.run, "jaeger.sh", "start")
        yield running
        print("trace backends start-up (s):", running.timings)
    finally:
        await asyncio.to_thread(running.stop)


@pytest.fixture(scope="module")
async def traced_stack(backends: TraceBackends) -> AsyncIterator[Stack]:
    """The four services exporting to that Jaeger; Zipkin's JVM starts meanwhile."""
    zipkin = asyncio.create_task(asyncio.to_thread(backends.run, "zipkin.sh", "start"))
    services = asyncio.create_task(timed(backends, "services", start_stack, backends.otlp_endpoint))
    started, failed = await asyncio.gather(services, zipkin, return_exceptions=True)
    if isinstance(started, BaseException) or isinstance(failed, BaseException):
        if isinstance(started, Stack):
            await stop_stack(started)
        raise started if isinstance(started, BaseException) else failed  # type: ignore[misc]
    try:
        yield started
    finally:
        await stop_stack(started)


@pytest.fixture(scope="module")
async def traced(backends: TraceBackends, traced_stack: Stack) -> AsyncIterator[TracedJourney]:
    """The journey, run once: its own checks are the flow's; the tests look at its trace."""
    journey = Journey(traced_stack, None, JaegerTraces(backends.jaeger_url))  # type: ignore[arg-type]
    t0 = time.monotonic()
    try:
        plan = await create_plan(journey)
        created = await create_tenant(journey, plan)
        tenant_id = created["tenant"]["id"]
        sub = await subscription_of(journey, tenant_id)
        await pay_first_invoice(journey, sub)
        await finish_onboarding(journey, created)

        async def onboarded() -> None:
            checklist = await journey.get("onboarding", f"/v1/tenants/{tenant_id}/onboarding")
            assert checklist["complete"] is True, checklist

        await journey.until(onboarded)
        ticket = await open_ticket(journey, tenant_id, FIRST)
        await escalate(journey, ticket, FIRST)
        bug = await filed_bug(journey, ticket["id"])
        # the flow ran through all four services, as Jaeger itself reports
        await journey.assert_one_trace(*SERVICE_NAMES, timeout=30)
        backends.timings["journey"] = round(time.monotonic() - t0, 1)
        yield TracedJourney(backends, journey.trace_id, tenant_id, ticket["id"], bug["id"])
    finally:
        await journey.close()


async def timed(backends: TraceBackends, what: str, start: Any, endpoint: str) -> Stack:
    t0 = time.monotonic()
    started: Stack = await start(otlp_endpoint=endpoint)
    backends.timings[what] = round(time.monotonic() - t0, 1)
    return started


def consumer_chain(spans: list[TraceSpan], consumer: TraceSpan) -> tuple[TraceSpan, TraceSpan]:
    """A consumer span's parent (the relay's publish span of the producing service) and
    the request (a server span) or the consumer in that service that wrote the event."""
    by_id = {s.span_id: s for s in spans}
    assert consumer.parent_span_id in by_id, f"{consumer} has no parent in the trace"
    producer = by_id[consumer.parent_span_id]
    assert producer.kind == "producer", (consumer, producer)
    assert producer.name.endswith(" publish"), producer
    origin = next((a for a in ancestors(spans, producer) if a.kind in {"server", "consumer"}), None)
    assert origin is not None, f"{producer} does not lead back to a request or a consumer"
    assert origin.service == producer.service, (producer, origin)
    return producer, origin


def assert_linked_across_kafka(spans: list[TraceSpan]) -> None:
    """Every span hangs on its parent (only the journey's requests start from the journey's
    own client spans), every consumer span's parent is the producing service's publish
    span, and the hops that make the journey are there, each back to the request."""
    assert broken_links(spans) == [], broken_links(spans)
    consumers = [s for s in spans if s.kind == "consumer"]
    assert consumers, [s.name for s in spans]
    hops: dict[tuple[str, str, str], TraceSpan] = {}
    for consumer in consumers:
        producer, origin = consumer_chain(spans, consumer)
        hops[(producer.service, consumer.service, consumer.name)] = origin

    def hop(producer: str, consumer: str, event_type: str) -> TraceSpan:
        key = (producer, consumer, f"{event_type} process")
        assert key in hops, f"no {key} in {sorted(hops)}"
        return hops[key]

    # the request that created the tenant -> billing subscribes it (in Stripe)
    created = hop("onboarding-service", "billing-service", "tenant.created")
    assert created.kind == "server" and "/v1/tenants" in created.name, created
    # billing's subscription -> onboarding's checklist; a new tenant -> the ticket-service
    hop("billing-service", "onboarding-service", "subscription.created")
    hop("onboarding-service", "ticket-service", "tenant.created")
    # the agent's escalation request -> the escalation service files the bug
    escalated = hop("ticket-service", "escalation-service", "ticket.escalated")
    assert escalated.kind == "server" and "escalations" in escalated.name, escalated


async def test_jaeger_holds_the_journey_as_one_trace_linked_across_kafka(
    traced: TracedJourney,
) -> None:
    jaeger = JaegerTraces(traced.backends.jaeger_url)

    async def linked() -> list[TraceSpan]:
        spans = await asyncio.to_thread(jaeger.spans, traced.trace_id)
        assert {s.service for s in spans} >= set(ALL_FOUR), {s.service for s in spans}
        assert_linked_across_kafka(spans)
        return spans

    spans = await eventually(linked, timeout=30, interval=0.5)
    names = {(s.service, s.name) for s in spans}
    # deferred work joins the trace too: billing's worker calling Stripe, its webhook
    assert ("billing-service", "billing.subscription.create_on_stripe") in names, names
    assert ("billing-service", "billing.stripe_event invoice.paid") in names, names
    # and Jaeger lists the services by name
    services = await get_json(f"{traced.backends.jaeger_url}/api/services")
    assert set(ALL_FOUR) <= set(services["data"]), services


async def test_zipkin_has_every_span_of_the_trace_from_jaeger(traced: TracedJourney) -> None:
    """Jaeger -> Kafka (zipkin_json) -> Zipkin's Kafka collector: the same spans, links
    and services, read through Zipkin's own API."""
    jaeger = JaegerTraces(traced.backends.jaeger_url)
    zipkin = traced.backends.zipkin_url

    async def copied() -> list[TraceSpan]:
        in_jaeger = await asyncio.to_thread(jaeger.spans, traced.trace_id)
        in_zipkin = await asyncio.to_thread(zipkin_trace, zipkin, traced.trace_id)
        lacking = {s.span_id for s in in_jaeger} - {s.span_id for s in in_zipkin}
        assert not lacking, f"{len(lacking)} of {len(in_jaeger)} spans not in Zipkin yet"
        assert {s.service for s in in_zipkin} >= set(ALL_FOUR), {s.service for s in in_zipkin}
        assert_linked_across_kafka(in_zipkin)
        return in_zipkin

    await eventually(copied, timeout=60, interval=0.5)
    services = await get_json(f"{zipkin}/api/v2/services")
    assert set(ALL_FOUR) <= set(services), services
    # they came over this stack's topic on the shared broker, not over HTTP
    assert traced.backends.topic in traced.backends.outputs["zipkin.sh start"]


async def test_zipkin_ui_shows_the_trace_in_a_browser(traced: TracedJourney) -> None:
    """The link `make demo` prints: Zipkin's Lens UI renders the trace with its services."""
    zipkin = traced.backends.zipkin_url
    async with httpx.AsyncClient(timeout=10) as client:
        home = await client.get(f"{zipkin}/zipkin/")
    assert home.status_code == 200 and home.headers["content-type"].startswith("text/html")
    # the copy may lag behind Jaeger
    await eventually(lambda: _has_services(zipkin, traced.trace_id), timeout=60, interval=0.5)
    if not HAVE_CHROMIUM:
        pytest.fail(
            f"{CHROMIUM} missing: apt-get install chromium (Debian), or set SUPPORTOPS_CHROMIUM"
        )
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(f"{zipkin}/zipkin/traces/{traced.trace_id}")
            # Lens: the summary, then one row per span ("<service>: <span name>")
            await expect(page.get_by_text("Total Spans")).to_be_visible(timeout=30_000)
            await expect(page.get_by_text(re.compile(r"^[a-z-]+-service: ")).last).to_be_visible()
            seen = await scroll_through_spans(page)
            assert seen >= {f"{s}: " for s in ALL_FOUR}, seen
            # the last hop of the journey, as a human finds it
            assert "escalation-service: ticket.escalated process" in seen, seen
            assert errors == [], errors
        finally:
            await browser.close()


# Scrolls every scrollable box of the page (Lens's span list among them) one step down
# and resolves after two frames (React has drawn the rows now in view): true once all of
# them are at their bottom.
SCROLL_STEP = """async (step) => {
  const boxes = [...document.querySelectorAll("*")].filter((e) =>
    e.scrollHeight > e.clientHeight + 1 &&
    ["auto", "scroll"].includes(getComputedStyle(e).overflowY));
  boxes.forEach((e) => { e.scrollTop += step; });
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  return boxes.every((e) => e.scrollTop + e.clientHeight >= e.scrollHeight - 1);
}"""


async def scroll_through_spans(page: Page) -> set[str]:
    """Lens renders only the span rows in view (a virtualized list): scroll it from top to
    bottom, a screen at a time, and collect what was on screen on the way (each service's
    "<service>: " prefix, and the escalation hop's row)."""
    wanted = {f"{s}: " for s in ALL_FOUR} | {"escalation-service: ticket.escalated process"}
    seen: set[str] = set()
    at_bottom = False
    for _ in range(1000):  # thousands of spans; ends at the bottom anyway
        text = (await page.locator("body").inner_text()).lower()
        seen |= {w for w in wanted if w in text}
        if seen == wanted or at_bottom:
            break
        at_bottom = await page.evaluate(SCROLL_STEP, 300)
    return seen


async def _has_services(zipkin: str, trace_id: str) -> None:
    spans = await asyncio.to_thread(zipkin_trace, zipkin, trace_id)
    assert {s.service for s in spans} >= set(ALL_FOUR), {s.service for s in spans}


async def get_json(url: str) -> Any:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(url)
        response.raise_for_status()
        return response.json()


async def test_another_stacks_scripts_neither_adopt_nor_stop_this_zipkin(
    traced: TracedJourney,
) -> None:
    """A second stack that forgot its port override (decision 0016): its zipkin.sh sees a
    Zipkin on the port that is not its own, reports itself stopped, and its stop leaves
    ours running."""
    ours = traced.backends
    other = TraceBackends.create(list(ours.ports.values()))  # same ports, own state dir
    try:
        env = other.env()

        def run(action: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [str(LOCAL / "zipkin.sh"), action],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )

        status = await asyncio.to_thread(run, "status")
        assert (status.returncode, status.stdout.strip()) == (3, "zipkin: stopped"), status
        stopped = await asyncio.to_thread(run, "stop")
        assert stopped.returncode == 0 and "not running" in stopped.stdout, stopped
        started = await asyncio.to_thread(run, "start")
        assert started.returncode != 0 and "already in use" in started.stderr, started
        assert (await asyncio.to_thread(run, "status")).returncode == 3
    finally:
        shutil.rmtree(other.state_dir, ignore_errors=True)
    # ours still answers
    assert await get_json(f"{ours.zipkin_url}/api/v2/services")
