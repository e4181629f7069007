"""`make demo` at a small scale against the real stack: everything it seeds is there when
read back through the services' APIs, and a second run adds data instead of failing."""

from __future__ import annotations

import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from otlp import TraceCollector
from stack import Stack

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from billing_service.config import DEV_STRIPE_WEBHOOK_SECRET
from scripts.demo import DemoConfig, DemoReport, SeedTenant, seed, summary
from scripts.devclient import Api, Services, Tokens, eventually
from servicekit.mailpit import Mailpit

ALL_CATEGORIES = {
    "access",
    "billing",
    "subscription",
    "onboarding",
    "platform_question",
    "sales",
    "compliance_guidance",
    "feature_request",
    "potential_bug",
    "other",
}


def services_of(stack: Stack) -> Services:
    return Services(
        ticket=stack["ticket-service"].url,
        billing=stack["billing-service"].url,
        onboarding=stack["onboarding-service"].url,
        escalation=stack["escalation-service"].url,
    )


def webhook_secret_of(stack: Stack) -> str:
    """The secret the stack's billing-service verifies Stripe signatures with."""
    env = stack["billing-service"].env
    return (
        env.get("BILLING_STRIPE_WEBHOOK_SECRET")
        or env.get("STRIPE_WEBHOOK_SECRET")
        or DEV_STRIPE_WEBHOOK_SECRET
    )


async def seed_small(stack: Stack, *, tenants: int, users: int, tickets: int) -> DemoReport:
    config = DemoConfig(
        tenants=tenants,
        users=users,
        tickets=tickets,
        run_id=uuid.uuid4().hex[:8],
        webhook_secret=webhook_secret_of(stack),
        wait_timeout=60,
    )
    async with Api(services_of(stack), Tokens.from_settings(), concurrency=6) as api:
        return await seed(api, config)


async def tickets_of(api: Api, tenant: SeedTenant) -> list[dict[str, Any]]:
    return await api.all_pages(
        "ticket", "/v1/tickets", params={"tenant_id": tenant.id}, roles=("agent",)
    )


@pytest.mark.timeout(360)
async def test_the_demo_seeds_tenants_users_billing_tickets_and_bugs(
    stack: Stack, traces: TraceCollector
) -> None:
    report = await seed_small(stack, tenants=2, users=10, tickets=14)
    assert [t.profile.name for t in report.tenants] == ["payment_failed", "net_terms_renewal_due"]
    failing, net_terms = report.tenants

    # the trace the demo links to is one journey across services (onboarding -> billing)
    async def journey_traced() -> bool | None:
        missing = traces.missing(failing.trace_id, ["onboarding-service", "billing-service"])
        return True if not missing else None

    await eventually(journey_traced, what="the demo's journey trace", timeout=30)
    # ... and the summary links to that trace in Zipkin's UI and Jaeger's API
    printed = summary(report, Tokens.from_settings())
    assert f"/zipkin/traces/{failing.trace_id}" in printed, printed
    assert f"/api/traces/{failing.trace_id}" in printed, printed

    async with Api(services_of(stack), Tokens.from_settings()) as api:
        # tenants: found by the run id in their domains, with the plan and terms asked for
        listed = await api.all_pages(
            "onboarding", "/v1/tenants", params={"q": report.run_id}, roles=("onboarding",)
        )
        assert {t["id"] for t in listed} == {failing.id, net_terms.id}
        by_id = {t["id"]: t for t in listed}
        assert by_id[failing.id]["billing"]["collection_method"] == "charge_automatically"
        assert by_id[net_terms.id]["billing"]["collection_method"] == "send_invoice"
        for tenant in report.tenants:
            assert by_id[tenant.id]["plan_code"] == report.plans[tenant.tier]
            assert by_id[tenant.id]["seat_limit"] == tenant.seats

        # users: ten in all, in every state, each as the demo left it (after access actions)
        planned_states = Counter(u.target for t in report.tenants for u in t.users)
        assert planned_states == Counter(active=7, invited=1, locked=1, deactivated=1)
        statuses: Counter[str] = Counter()
        for tenant in report.tenants:
            users = await api.all_pages(
                "onboarding", f"/v1/tenants/{tenant.id}/users", roles=("onboarding",)
            )
            assert Counter(u["status"] for u in users) == Counter(
                u.final_status for u in tenant.users
            )
            statuses.update(u["status"] for u in users)
        assert sum(statuses.values()) == 10
        assert {"active", "invited"} <= set(statuses)
        assert statuses == report.user_counts()

        # tickets: fourteen from customers, every triage category, as planned
        tickets = [t for tenant in report.tenants for t in await tickets_of(api, tenant)]
        customer = [t for t in tickets if "billing_followup" not in t["tags"]]
        assert len(customer) == 14
        assert {t["category"] for t in customer} == ALL_CATEGORIES
        assert {t["subcategory"] for t in customer if t["category"] == "access"} == {
            "login",
            "mfa",
            "activation",
            "inactive",
        }
        planned = {t.id: t for t in report.tickets}
        assert set(planned) == {t["id"] for t in customer}
        for ticket in customer:
            seeded = planned[ticket["id"]]
            assert (ticket["category"], ticket["subcategory"]) == (
                seeded.category,
                seeded.subcategory,
            )
            assert ticket["channel"] == seeded.channel

        # the failed renewal payment became a follow-up ticket in the billing queue
        followups = [
            t for t in tickets if t["tenant_id"] == failing.id and "billing_followup" in t["tags"]
        ]
        assert {f["id"] for f in followups} == {f["id"] for f in report.followups[failing.id]}
        (payment,) = [f for f in followups if "payment_failed" in f["tags"]]
        assert payment["queue"] == "billing"
        assert payment["channel"] == "proactive"
        assert payment["status"] == "new"
        sub = (
            await api.get(
                "billing", "/v1/subscriptions", params={"tenant_id": failing.id}, roles=("billing",)
            )
        )["items"][0]
        assert sub["status"] == "past_due"

        # renewals: the net-terms customer's period ended, so the scan invoiced it by hand;
        # the failed renewal is at risk
        renewals = await api.all_pages(
            "billing", "/v1/renewals", params={"tenant_id": net_terms.id}, roles=("billing",)
        )
        assert any(
            r["state"] == "invoiced" and r["reason"] == "manual_invoicing" for r in renewals
        ), renewals
        failing_renewals = await api.all_pages(
            "billing", "/v1/renewals", params={"tenant_id": failing.id}, roles=("billing",)
        )
        assert any(r["state"] == "at_risk" for r in failing_renewals), failing_renewals

        # the bug: both reports filed as one bug (a duplicate linked), QA fixed it, and
        # every linked ticket was told and solved
        escalated = [t for t in report.tickets if t.bug_group is not None]
        assert len(escalated) == 2
        bug = await api.get("escalation", f"/v1/bugs/{report.bugs[0]['id']}", roles=("qa",))
        assert bug["status"] == "fixed"
        assert {link["ticket_id"] for link in bug["linked_tickets"]} == {t.id for t in escalated}
        assert sum(1 for link in bug["linked_tickets"] if link["is_duplicate"]) == 1

        async def told_and_solved() -> bool | None:
            for ticket in escalated:
                detail = await api.get("ticket", f"/v1/tickets/{ticket.id}", roles=("agent",))
                keys = {entry["template_key"] for entry in detail["timeline"]}
                if detail["status"] != "solved" or "bug_fixed" not in keys:
                    return None
            return True

        await eventually(told_and_solved, what="the fixed bug's tickets to be solved", timeout=60)

        # CSAT: every rating the demo gave is on its ticket's timeline
        rated = [t for t in report.tickets if t.fate == "solved_csat"]
        assert len(report.csat_ratings) == len(rated)
        for solved in rated:
            detail = await api.get("ticket", f"/v1/tickets/{solved.id}", roles=("agent",))
            assert detail["status"] == "solved"
            assert any(e["action"] == "csat_rated" for e in detail["timeline"])

    # The conversations are in Mailpit, as the README promises after `make demo`: each
    # rated customer got the agent's reply and the survey, threaded on the ticket's
    # reference; each user the demo left invited got the invitation with its link.
    mailpit = Mailpit()
    for solved in rated:

        async def conversation(ticket: Any = solved) -> bool | None:
            mails = await mailpit.to(ticket.requester.email)
            about = [m for m in mails if ticket.subject in m.subject and "[ref:" in m.subject]
            survey = [m for m in about if "csat-surveys/" in m.text()]
            return True if survey and len(about) >= 2 else None

        await eventually(conversation, what=f"the mails about {solved.subject!r}", timeout=60)
    invited = [u for t in report.tenants for u in t.users if u.final_status == "invited"]
    assert invited
    for user in invited:
        (invitation, *_) = await mailpit.wait_for(user.email, timeout=60)
        assert "activate?token=" in invitation.text(), invitation.text()


@pytest.mark.timeout(360)
async def test_running_the_demo_again_adds_a_dataset_instead_of_failing(stack: Stack) -> None:
    first = await seed_small(stack, tenants=1, users=3, tickets=4)
    second = await seed_small(stack, tenants=1, users=3, tickets=4)
    assert first.run_id != second.run_id
    # the shared catalog (plans, agents, templates) is reused, not created twice
    assert first.plans == second.plans
    async with Api(services_of(stack), Tokens.from_settings()) as api:
        plans = await api.all_pages("billing", "/v1/plans", roles=("admin",))
        codes = [p["code"] for p in plans]
        assert len(codes) == len(set(codes))
        for code in first.plans.values():
            assert code in codes
        for report in (first, second):
            (tenant,) = report.tenants
            listed = await api.all_pages(
                "onboarding", "/v1/tenants", params={"q": report.run_id}, roles=("onboarding",)
            )
            assert [t["id"] for t in listed] == [tenant.id]
            customer = [
                t for t in await tickets_of(api, tenant) if "billing_followup" not in t["tags"]
            ]
            assert len(customer) == 4
