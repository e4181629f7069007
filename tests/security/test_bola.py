"""The BOLA suite: for every operation of the four services that takes an id or a
``tenant_id`` (read from each app's OpenAPI document), requests with the other tenant's
ids and a tenant-confined token of every role; 0 breaches, every refusal a problem, the
victim's data unchanged (bolakit.py, docs/security.md)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from bolakit import METHODS, Prober, Report, Tenant, changed, operations, snapshot
from fastapi import FastAPI
from sqlalchemy import MetaData, select

import billing_service
import escalation_service
import onboarding_service
import ticket_service
from billing_service.config import BillingSettings
from billing_service.main import create_app as billing_app
from billing_service.models import Base as BillingBase
from billing_service.models import Correction, Invoice, Plan, Renewal, Subscription
from escalation_service.config import EscalationSettings
from escalation_service.main import create_app as escalation_app
from escalation_service.models import Base as EscalationBase
from onboarding_service.config import OnboardingSettings
from onboarding_service.main import create_app as onboarding_app
from onboarding_service.models import Base as OnboardingBase
from servicekit.auth import CurrentPrincipal
from servicekit.authz import api_routes, declaration_of
from servicekit.db import Database
from servicekit.deps import SessionDep
from servicekit.guard import binding_of, guard_nodes
from servicekit.testing import (
    app_client,
    auth,
    deliver,
    drop_database,
    known_tenant,
    migrated_database,
    topic_prefix,
)
from supportops_events.samples import sample
from ticket_service.config import TicketSettings
from ticket_service.mail.attachments import store_attachments
from ticket_service.mail.inbound import ParsedAttachment
from ticket_service.main import create_app as ticket_app
from ticket_service.models import AccessRequest, Ticket, TimelineEntry
from ticket_service.models import Base as TicketBase

pytestmark = [pytest.mark.infra, pytest.mark.timeout(300)]

STAFF = auth("admin", subject="bola-admin")
REPORTS: dict[str, Report] = {}
MINIMUM_PROBES = 1000


def quiet(**fields: Any) -> dict[str, Any]:
    """Settings of an app probed in-process: no relay (so the outbox keeps every event
    for the victim snapshot) and no consumers (read models are seeded directly)."""
    return {
        "kafka_topic_prefix": topic_prefix(),
        "environment": "test",
        "run_relay": False,
        "run_consumers": False,
        **fields,
    }


@asynccontextmanager
async def running(
    name: str, package: Any, make: Callable[[str], FastAPI]
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient, str]]:
    database, url = await migrated_database(
        f"bola_{name}", Path(package.__file__).parent / "migrations"
    )
    try:
        app = make(url)
        async with app_client(app) as client:
            yield app, client, url
    finally:
        await drop_database(database)


async def created(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> Any:
    response = await client.post(
        path, json=body, headers={**STAFF, "Idempotency-Key": uuid.uuid4().hex}
    )
    assert response.status_code in (200, 201, 202), (path, response.text)
    return response.json()


async def audit(
    app: FastAPI,
    client: httpx.AsyncClient,
    url: str,
    metadata: MetaData,
    tenants: list[Tenant],
    *,
    overrides: dict[str, Any] | None = None,
) -> tuple[Report, dict[str, list[str]]]:
    """Every probe of the app's document, and the tables where a tenant's rows changed."""
    kinds = {kind for t in tenants for kind in t.ids} | {"tenant"}
    ops = operations(app, kinds, declared_positions(app))
    db = Database(url)
    try:
        before = {t.tenant_id: await snapshot(db, metadata, t.tenant_id) for t in tenants}
        report = Report()
        await Prober(client, app, overrides=overrides).run(tenants, ops, report)
        after = {t.tenant_id: await snapshot(db, metadata, t.tenant_id) for t in tenants}
    finally:
        await db.dispose()
    # Every probe names a victim's id, so every probe must be refused: no tenant's rows
    # (each is the other's victim) may change, nor any event of it be queued.
    diffs = {t.tenant_id: changed(before[t.tenant_id], after[t.tenant_id]) for t in tenants}
    return report, {tenant: diff for tenant, diff in diffs.items() if diff}


async def probe_all(
    service: str,
    app: FastAPI,
    client: httpx.AsyncClient,
    url: str,
    metadata: MetaData,
    tenants: list[Tenant],
    *,
    overrides: dict[str, Any] | None = None,
) -> Report:
    # every kind of id the document names is seeded, so no operation escapes the probes
    # because nobody thought of its kind (a new endpoint with a new kind fails here)
    seeded = {kind for t in tenants for kind in t.ids} | {"tenant"}
    unseeded = declared_kinds(app) - seeded
    assert not unseeded, f"{service}: ids of these kinds are never probed: {sorted(unseeded)}"
    report, changes = await audit(app, client, url, metadata, tenants, overrides=overrides)
    REPORTS[service] = report
    assert report.operations, f"{service}: no operation takes an id?"
    assert not changes, f"{service}: a tenant's data changed: {changes}"
    assert not report.findings, f"{service}: {len(report.findings)} breaches:\n" + "\n".join(
        str(f) for f in report.findings[:30]
    )
    assert_every_named_record_probed(service, app, report)
    assert_every_guarded_id_probed(service, app, report)
    return report


# Path parameters no route declares (neither owned nor exempt), and why no probe applies.
NOT_A_TENANT_RECORD = {
    "key": "a support-wide template (staff-only; templates belong to no tenant)",
    "version": "a version of such a template",
    "token": "a signed CSAT survey link: the signature is the authorization",
    "rule_id": "a support-wide triage rule (admin-only)",
    "agent_id": "a support agent of the vendor, not of a tenant",
    "calendar_id": "support's business calendar, not a tenant's",
    "policy_id": "an SLA policy of the vendor's support (per plan tier, no tenant)",
    "plan_id": "a catalogue plan, the same for every tenant",
}


def declared_positions(app: FastAPI) -> dict[str, dict[tuple[str, str], str]]:
    """Per operation (``"GET /path"``), the kind each path/query id is declared as."""
    found: dict[str, dict[tuple[str, str], str]] = {}
    for route in api_routes(app):
        declaration = declaration_of(route)
        if declaration is None or not route.include_in_schema:
            continue
        for method in route.methods:
            found[f"{method} {route.path}"] = {
                (ref.location, ref.name): ref.kind
                for ref in declaration.refs
                if ref.location in ("path", "query")
            }
    return found


def assert_every_named_record_probed(service: str, app: FastAPI, report: Report) -> None:
    """The class, not examples: every path id an operation of the OpenAPI document declares
    as a tenant's record was probed, at that position, with another tenant's id and token;
    any other path parameter is declared exempt by its route or is one of the few named
    above (a new one fails here until someone decides whether it is a tenant's)."""
    routes = {
        f"{method} {route.path}": route for route in api_routes(app) for method in route.methods
    }
    unprobed, undecided = [], []
    for path, item in app.openapi()["paths"].items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            label = f"{method.upper()} {path}"
            declaration = declaration_of(routes[label])
            owned = {r.name: r.kind for r in declaration.refs} if declaration else {}
            exempt = declaration.exempt if declaration else {}
            for name in (p["name"] for p in op.get("parameters", []) if p["in"] == "path"):
                if name in owned:
                    if (label, "path", name) not in report.positions:
                        unprobed.append(f"{label}: {name}")
                elif name not in exempt and name not in NOT_A_TENANT_RECORD:
                    undecided.append(f"{label}: {name}")
    assert not unprobed, f"{service}: tenant ids never probed with another tenant's: {unprobed}"
    assert not undecided, f"{service}: records owned by nobody? decide and list: {undecided}"


def guarded_ids(app: FastAPI) -> dict[str, list[tuple[str, str]]]:
    """Per operation (``"GET /path"``) whose ownership check runs in its guard
    (``servicekit.guard``), the ids the guard is bound to check."""
    found: dict[str, list[tuple[str, str]]] = {}
    for route in api_routes(app):
        bindings = {binding_of(node.call) for node in guard_nodes(route.dependant)}
        for binding in bindings:
            assert binding is not None, f"{route.path}: a guard install_guards did not bind"
            if binding.declaration is None or not route.include_in_schema:
                continue
            for method in route.methods:
                found[f"{method} {route.path}"] = [
                    (ref.location, ref.name) for ref in binding.declaration.refs
                ]
    return found


def assert_every_guarded_id_probed(service: str, app: FastAPI, report: Report) -> None:
    """The guarded routes (the check inside the guard, bound at start-up) are probed like
    every other: each id their guard checks was sent with another tenant's value."""
    unprobed = [
        f"{label}: {location} {name}"
        for label, ids in guarded_ids(app).items()
        for location, name in ids
        if (label, location, name) not in report.positions
    ]
    assert not unprobed, f"{service}: guarded ids never probed: {unprobed}"


async def ticket_tenants(app: FastAPI, client: httpx.AsyncClient) -> list[Tenant]:
    tenants = []
    for _ in range(2):
        tenant = Tenant(await known_tenant(app))
        user_id = tenant.add("user", f"user-{uuid.uuid4().hex[:8]}")
        await deliver(
            app,
            sample(
                "user.activated",
                tenant_id=tenant.tenant_id,
                user_id=user_id,
                email="pat@example.com",
            ),
        )
        for subject in ("Cannot log in", "Invoice is wrong"):
            ticket = await created(
                client,
                "/v1/tickets",
                {
                    "tenant_id": tenant.tenant_id,
                    "requester": {"email": "pat@example.com", "name": "Pat"},
                    "channel": "email",
                    "subject": subject,
                    "body": "Please help",
                },
            )
            tenant.add("ticket", ticket["id"])
            tenant.add("ticket_detail", ticket["id"])  # the detail read's own resolver
        await seed_mail_and_access(app, tenant, uuid.UUID(tenant.ids["ticket"][0]))
        tenants.append(tenant)
    return tenants


async def seed_mail_and_access(app: FastAPI, tenant: Tenant, ticket_id: uuid.UUID) -> None:
    """An attachment (as inbound mail stores it) and an access request on the tenant's
    first ticket, written directly: their ids are what the attachment download and the
    access confirmation take."""
    now = datetime.now(UTC)
    async with app.state.db.unit_of_work() as session:
        entry = await session.scalar(
            select(TimelineEntry.id).where(TimelineEntry.ticket_id == ticket_id).limit(1)
        )
        assert entry is not None
        (attachment,) = await store_attachments(
            session,
            files=[ParsedAttachment("invoice.pdf", "application/pdf", b"%PDF-1.4 secret")],
            ticket_id=ticket_id,
            entry_id=entry,
            tenant_id=tenant.tenant_id,
            at=now,
        )
        request = AccessRequest(
            ticket_id=ticket_id,
            tenant_id=tenant.tenant_id,
            action="mfa_reset",
            user_id=tenant.ids["user"][0],
            user_email="pat@example.com",
            status="requested",
            requested_by="bola-seed",
            created_at=now,
        )
        session.add(request)
        await session.flush()
        tenant.add("attachment", str(attachment.id))
        tenant.add("access_request", str(request.id))


# --- ticket-service ---------------------------------------------------------------------


async def test_ticket_service_refuses_every_foreign_id() -> None:
    def make(url: str) -> FastAPI:
        return ticket_app(TicketSettings(database_url=url, **quiet()))

    async with running("ticket", ticket_service, make) as (app, client, url):
        tenants = await ticket_tenants(app, client)
        report = await probe_all("ticket", app, client, url, _both(TicketBase.metadata), tenants)
        assert "POST /v1/tickets" in report.operations
        assert "GET /v1/tickets/{ticket_id}" in report.operations
        assert "GET /v1/attachments/{attachment_id}" in report.operations
        assert "GET /v1/tickets/{ticket_id}/attachments" in report.operations
        # the console's hot paths take a guard (decision 0042); their ids are probed too
        assert set(guarded_ids(app)) >= {
            "POST /v1/tickets",
            "GET /v1/tickets",
            "GET /v1/tickets/{ticket_id}",
        }


async def test_the_suite_catches_an_endpoint_that_forgets_the_check() -> None:
    """Proof that the suite is not vacuous: routes added after the app's start-up check
    (which would refuse them) that read and change a ticket by id without resolving it
    are probed, because they are in the OpenAPI document, and reported."""

    async def leak(ticket_id: uuid.UUID, session: SessionDep, caller: CurrentPrincipal) -> Any:
        ticket = await session.get(Ticket, ticket_id)
        return {"id": str(ticket_id), "tenant_id": ticket.tenant_id if ticket else None}

    async def rename(
        ticket_id: uuid.UUID, session: SessionDep, caller: CurrentPrincipal
    ) -> dict[str, str]:
        ticket = await session.get(Ticket, ticket_id)
        if ticket is not None:
            ticket.subject = f"renamed by {caller.tenant_id}"
        return {"status": "renamed"}

    def make(url: str) -> FastAPI:
        app = ticket_app(TicketSettings(database_url=url, **quiet()))
        app.router.add_api_route("/v1/unguarded/{ticket_id}", leak, methods=["GET"])
        app.router.add_api_route("/v1/unguarded/{ticket_id}/rename", rename, methods=["POST"])
        return app

    async with running("ticket_unguarded", ticket_service, make) as (app, client, url):
        tenants = await ticket_tenants(app, client)
        report, changes = await audit(app, client, url, _both(TicketBase.metadata), tenants)
    breached = {f.probe.operation.label for f in report.findings}
    assert breached == {"GET /v1/unguarded/{ticket_id}"}, [str(f) for f in report.findings]
    assert {t for tables in changes.values() for t in tables} == {"tickets"}
    assert set(changes) == {t.tenant_id for t in tenants}


def declared_kinds(app: FastAPI) -> set[str]:
    """Every kind of tenant-owned id the app's routes declare (``owned(...)``; the app does
    not start with an undeclared one): what the seed must cover, or some operations'
    ids would never be probed."""
    return {
        ref.kind
        for route in api_routes(app)
        if route.include_in_schema and (declaration := declaration_of(route)) is not None
        for ref in declaration.refs
    }


def _both(metadata: MetaData) -> MetaData:
    """The service's tables and the kit's (the outbox is snapshotted separately)."""
    merged = MetaData()
    for table in metadata.sorted_tables:
        table.to_metadata(merged)
    return merged


# --- billing-service --------------------------------------------------------------------


async def test_billing_service_refuses_every_foreign_id() -> None:
    def make(url: str) -> FastAPI:
        return billing_app(BillingSettings(database_url=url, **quiet()))

    async with running("billing", billing_service, make) as (app, client, url):
        db: Database = app.state.db
        code = f"team-{uuid.uuid4().hex[:6]}"
        now = datetime.now(UTC)
        tenants = []
        async with db.unit_of_work() as session:
            plan = Plan(
                code=code,
                name="Team",
                tier="team",
                unit_amount=1500,
                currency="usd",
                interval="month",
                stripe_product_id="prod_bola",
                stripe_price_id="price_bola",
            )
            session.add(plan)
            await session.flush()
            plan_id = plan.id
        for _ in range(2):
            tenant = Tenant(await known_tenant(app))
            async with db.unit_of_work() as session:
                subscription = Subscription(
                    tenant_id=tenant.tenant_id,
                    plan_id=plan_id,
                    seats=3,
                    collection_method="charge_automatically",
                    status="active",
                    sync_state="synced",
                    stripe_customer_id=f"cus_{uuid.uuid4().hex[:10]}",
                    stripe_subscription_id=f"sub_{uuid.uuid4().hex[:10]}",
                    current_period_start=now,
                    current_period_end=now + timedelta(days=30),
                    ever_activated=True,
                )
                session.add(subscription)
                await session.flush()
                charge = f"ch_{uuid.uuid4().hex[:14]}"
                invoice = Invoice(
                    tenant_id=tenant.tenant_id,
                    subscription_id=subscription.id,
                    stripe_invoice_id=f"in_{uuid.uuid4().hex[:14]}",
                    status="paid",
                    collection_method="charge_automatically",
                    currency="usd",
                    amount_due=4500,
                    amount_paid=4500,
                    amount_remaining=0,
                    period_start=now,
                    period_end=now + timedelta(days=30),
                    stripe_charge_id=charge,
                )
                open_invoice = Invoice(
                    tenant_id=tenant.tenant_id,
                    subscription_id=subscription.id,
                    stripe_invoice_id=f"in_{uuid.uuid4().hex[:14]}",
                    status="open",
                    collection_method="charge_automatically",
                    currency="usd",
                    amount_due=4500,
                    amount_paid=0,
                    amount_remaining=4500,
                    period_start=now,
                    period_end=now + timedelta(days=30),
                )
                session.add_all([invoice, open_invoice])
                await session.flush()
                refund = Correction(
                    kind="refund",
                    stripe_id=f"re_{uuid.uuid4().hex[:14]}",
                    tenant_id=tenant.tenant_id,
                    invoice_id=invoice.id,
                    stripe_charge_id=charge,
                    currency="usd",
                    amount=100,
                    status="succeeded",
                )
                renewal = Renewal(
                    tenant_id=tenant.tenant_id,
                    subscription_id=subscription.id,
                    period_start=now + timedelta(days=30),
                    period_end=now + timedelta(days=60),
                )
                session.add_all([refund, renewal])
                await session.flush()
                tenant.add("subscription", subscription.id)
                tenant.add("invoice", invoice.id)
                tenant.add("invoice", open_invoice.id)
                tenant.add("charge", charge)
                tenant.add("refund", refund.id)
                tenant.markers |= {invoice.stripe_invoice_id, renewal.id}
            tenants.append(tenant)
        await probe_all(
            "billing",
            app,
            client,
            url,
            _both(BillingBase.metadata),
            tenants,
            overrides={"plan_code": code},
        )


# --- onboarding-service -----------------------------------------------------------------


async def test_onboarding_service_refuses_every_foreign_id() -> None:
    def make(url: str) -> FastAPI:
        return onboarding_app(OnboardingSettings(database_url=url, **quiet()))

    async with running("onboarding", onboarding_service, make) as (app, client, url):
        tenants = []
        for _ in range(2):
            slug = uuid.uuid4().hex[:10]
            made = await created(
                client,
                "/v1/tenants",
                {
                    "company_name": f"Acme {slug}",
                    "domains": [f"acme-{slug}.com"],
                    "plan_code": "team-monthly",
                    "seats": 5,
                    "billing": {
                        "collection_method": "charge_automatically",
                        "billing_email": f"billing@acme-{slug}.com",
                    },
                    "admin": {"email": f"admin@acme-{slug}.com", "name": "Ada Admin"},
                },
            )
            tenant = Tenant(str(made["tenant"]["id"]))
            tenant.markers |= {slug}
            invited = await created(
                client,
                f"/v1/tenants/{tenant.tenant_id}/users",
                {"email": f"bob@acme-{slug}.com", "name": "Bob"},
            )
            tenant.add("user", str(invited.get("user", invited)["id"]))
            tenants.append(tenant)
        report = await probe_all(
            "onboarding", app, client, url, _both(OnboardingBase.metadata), tenants
        )
        assert "GET /v1/tenants/{tenant_id}/mail" in report.operations
        assert "GET /v1/users/{user_id}/mail" in report.operations


# --- escalation-service -----------------------------------------------------------------


async def test_escalation_service_refuses_every_foreign_id() -> None:
    def make(url: str) -> FastAPI:
        return escalation_app(EscalationSettings(database_url=url, **quiet()))

    async with running("escalation", escalation_service, make) as (app, client, url):
        tenants = []
        for title in ("PDF export is blank", "Search ignores accents"):
            tenant = Tenant(await known_tenant(app))
            tickets = [f"tkt_{uuid.uuid4().hex[:10]}" for _ in range(2)]
            for ticket_id in tickets:
                await deliver(
                    app,
                    sample("ticket.created", ticket_id=ticket_id, tenant_id=tenant.tenant_id),
                )
                tenant.add("ticket", ticket_id)
            made = await created(
                client,
                "/v1/bugs",
                {
                    "tenant_id": tenant.tenant_id,
                    "title": f"{title} {uuid.uuid4().hex[:6]}",
                    "summary": "Since the last release.",
                    "steps": ["Open the page", "Click the button"],
                    "expected": "It works",
                    "actual": "It does not",
                    "force_new": True,
                    "linked_tickets": [{"ticket_id": tickets[0], "tenant_id": tenant.tenant_id}],
                },
            )
            tenant.add("bug", made["bug"]["id"])
            tenants.append(tenant)
        await probe_all("escalation", app, client, url, _both(EscalationBase.metadata), tenants)


async def test_the_suite_ran_at_least_a_thousand_probes() -> None:
    """Runs last in this module: the four services' probes together."""
    assert set(REPORTS) == {"ticket", "billing", "onboarding", "escalation"}
    total = sum(r.probes for r in REPORTS.values())
    for service, report in REPORTS.items():
        print(
            service,
            report.probes,
            "probes",
            len(report.operations),
            "operations",
            dict(sorted(report.statuses.items())),
        )
    assert total >= MINIMUM_PROBES, {s: r.probes for s, r in REPORTS.items()}
