"""Writes ``docs/api-tour.md``: a walk through the main endpoints of the four services
with real requests and the responses the running system gave to them.

    make up && make api-tour        (or: uv run --frozen python -m scripts.api_tour)

Every run creates its own tenant (the run id is in its domain), so the tour can be
regenerated on a system that already holds data; ids and times differ from run to run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Any

import httpx

from scripts.devclient import (
    Api,
    Services,
    Tokens,
    eventually,
    stripe_event,
    stripe_signature,
    stripe_webhook_secret,
)

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "docs" / "api-tour.md"
SHOWN_HEADERS = (
    "content-type",
    "etag",
    "location",
    "idempotent-replayed",
    "www-authenticate",
)
TOKEN_VARIABLES: dict[tuple[str, ...], str] = {
    ("admin",): "ADMIN_TOKEN",
    ("agent",): "AGENT_TOKEN",
    ("billing",): "BILLING_TOKEN",
    ("onboarding",): "ONBOARDING_TOKEN",
    ("qa",): "QA_TOKEN",
    ("service",): "SERVICE_TOKEN",
}
MAX_LIST_ITEMS = 4
MAX_STRING = 160


@dataclass
class Exchange:
    """One request and the response the system gave."""

    method: str
    url: str
    headers: dict[str, str]
    body: Any
    raw_body: str | None
    status: int
    response_headers: dict[str, str]
    response_body: Any
    repeat: bool = False
    """The same request as the one before: not shown again."""


@dataclass
class Section:
    title: str
    text: str
    anchor: str = ""
    parts: list[Exchange | str] = field(default_factory=list)


def shorten(value: Any) -> Any:
    """Long lists and strings are cut so a page stays readable (the cut is marked)."""
    if isinstance(value, dict):
        return {k: shorten(v) for k, v in value.items()}
    if isinstance(value, list):
        head = [shorten(v) for v in value[:MAX_LIST_ITEMS]]
        if len(value) > MAX_LIST_ITEMS:
            more = len(value) - MAX_LIST_ITEMS
            head.append(f"… {more} more item{'s' if more > 1 else ''}")
        return head
    if isinstance(value, str) and len(value) > MAX_STRING:
        return value[:MAX_STRING] + "…"
    return value


class Tour:
    def __init__(self, api: Api, *, run_id: str, webhook_secret: str) -> None:
        self.api = api
        self.run_id = run_id
        self.secret = webhook_secret
        self.sections: list[Section] = []
        self.tenant_tokens: dict[str, str] = {}

    # -- recording ------------------------------------------------------------------------

    def section(self, title: str, text: str) -> None:
        anchor = "".join(c if c.isalnum() else "-" for c in title.lower()).strip("-")
        while "--" in anchor:
            anchor = anchor.replace("--", "-")
        self.sections.append(Section(title=title, text=text.strip(), anchor=anchor))

    def say(self, text: str) -> None:
        self.sections[-1].parts.append(text.strip())

    async def call(
        self,
        method: str,
        service: str,
        path: str,
        *,
        roles: tuple[str, ...] = ("agent",),
        tenant_id: str | None = None,
        body: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        content: str | None = None,
        expect: int,
        auth: bool = True,
        repeat: bool = False,
    ) -> httpx.Response:
        """Make the request, record it, and insist on the status the tour describes."""
        response = await self.api.call(
            method,
            service,
            path,
            roles=roles,
            tenant_id=tenant_id,
            subject=None if tenant_id is None else f"pat@tour-{self.run_id}.example",
            json_body=body,
            params=params,
            headers=headers,
            content=content,
            expect=(expect,),
            auth=auth,
        )
        shown = {}
        if auth:
            if tenant_id is not None:
                variable = "TENANT_TOKEN"
                self.tenant_tokens[tenant_id] = variable
            else:
                variable = TOKEN_VARIABLES.get(roles, "TOKEN")
            shown["Authorization"] = f"Bearer ${variable}"
        for name, value in (headers or {}).items():
            shown[name] = value
        if body is not None:
            shown["Content-Type"] = "application/json"
        try:
            response_body: Any = response.json()
        except ValueError:
            response_body = response.text
        self.sections[-1].parts.append(
            Exchange(
                method=method,
                url=str(response.request.url),
                headers=shown,
                body=body,
                raw_body=content,
                status=response.status_code,
                response_headers={
                    k: v for k, v in response.headers.items() if k.lower() in SHOWN_HEADERS
                },
                response_body=response_body,
                repeat=repeat,
            )
        )
        return response

    # -- the tour ---------------------------------------------------------------------------

    async def run(self) -> None:
        verdicts = await self.api.ready()
        down = {n: v for n, v in verdicts.items() if v != "ready"}
        if down:
            raise SystemExit(f"the services are not ready ({down}); run `make up` first")
        plans = await self.api.all_pages("billing", "/v1/plans", roles=("admin",))
        usable = [p for p in plans if not p.get("archived") and p["interval"] == "month"]
        usable.sort(key=lambda p: (p["tier"] != "team", p["code"] != "team-monthly", p["code"]))
        if not usable:
            raise SystemExit("billing has no monthly plan: run `make up` (it seeds plans)")
        plan = usable[0]
        tenant_id = await self.onboarding(plan)
        await self.checklist(tenant_id)
        await self.etags(tenant_id)
        await self.billing(tenant_id)
        ticket_id = await self.tickets(tenant_id)
        await self.template_reply(ticket_id)
        await self.account(tenant_id)
        await self.bugs(tenant_id)
        await self.pagination()
        await self.errors(tenant_id)

    async def onboarding(self, plan: dict[str, Any]) -> str:
        domain = f"tour-{self.run_id}.example"
        self.section(
            "Create a tenant",
            "A new B2B customer starts in the **onboarding-service** (port 8003). One request "
            "creates the tenant with its domains, plan, seats, billing terms and configuration, "
            "and invites its first admin. It needs the `onboarding` role. The response "
            "carries the tenant's `ETag` and `Location`, and the admin's one-time invitation "
            "token.",
        )
        body = {
            "company_name": "Tour Analytics",
            "domains": [domain],
            "plan_code": plan["code"],
            "seats": 10,
            "billing": {
                "collection_method": "charge_automatically",
                "billing_email": f"billing@{domain}",
            },
            "configuration": {"locale": "en-GB", "timezone": "Europe/London", "data_region": "eu"},
            "admin": {"email": f"pat@{domain}", "name": "Pat Admin"},
        }
        key = f"tour-{self.run_id}-tenant"
        created = (
            await self.call(
                "POST",
                "onboarding",
                "/v1/tenants",
                roles=("onboarding",),
                body=body,
                headers={"Idempotency-Key": key},
                expect=201,
            )
        ).json()
        tenant_id: str = created["tenant"]["id"]
        self.section(
            "Idempotency-Key: safe retries",
            "Every POST that creates or charges accepts an `Idempotency-Key` (refunds and "
            "credit notes require one). Sending exactly the same request again with the "
            "same key creates nothing: the first response is replayed and marked "
            "`Idempotent-Replayed: true`. Generate one key per user action (a UUID) and "
            "reuse it for the retries of that action.",
        )
        await self.call(
            "POST",
            "onboarding",
            "/v1/tenants",
            roles=("onboarding",),
            body=body,
            headers={"Idempotency-Key": key},
            expect=201,
            repeat=True,
        )
        self.say("The same key with a different body is a mistake, and refused:")
        await self.call(
            "POST",
            "onboarding",
            "/v1/tenants",
            roles=("onboarding",),
            body={**body, "seats": 12},
            headers={"Idempotency-Key": key},
            expect=422,
        )

        self.section(
            "Invite a user",
            "Inviting a user takes a seat until the invitation is accepted or expires (a "
            "409 `seat-limit-reached` names the limit when none is left). The invitation "
            "token is shown once; your sign-up page sends it back to accept.",
        )
        invited = (
            await self.call(
                "POST",
                "onboarding",
                f"/v1/tenants/{tenant_id}/users",
                roles=("onboarding",),
                body={"email": f"sam@{domain}", "name": "Sam Member", "role": "member"},
                headers={"Idempotency-Key": f"tour-{self.run_id}-invite"},
                expect=201,
            )
        ).json()
        self.say(
            "Accepting makes the user active (the identity system calls this with the "
            "`service` role):"
        )
        await self.call(
            "POST",
            "onboarding",
            "/v1/invitations/accept",
            roles=("service",),
            body={"token": invited["invitation_token"], "name": "Sam Member"},
            expect=200,
        )
        await self.api.post(
            "onboarding",
            "/v1/invitations/accept",
            {"token": created["admin_invitation"]["invitation_token"]},
            roles=("service",),
        )
        self.say("A tenant's users, filtered by status:")
        await self.call(
            "GET",
            "onboarding",
            f"/v1/tenants/{tenant_id}/users",
            roles=("onboarding",),
            params={"status": "active"},
            expect=200,
        )
        return tenant_id

    async def checklist(self, tenant_id: str) -> None:
        async def attached() -> bool | None:
            checklist = await self.api.get(
                "onboarding", f"/v1/tenants/{tenant_id}/onboarding", roles=("onboarding",)
            )
            steps = {s["step"]: s["done"] for s in checklist["steps"]}
            return True if steps.get("subscription_attached") else None

        await eventually(attached, what="billing to attach the subscription", timeout=90)
        self.section(
            "The onboarding checklist",
            "Each step of getting a customer live is ticked by whoever does it: the "
            "company and the invitation at creation, the subscription when the "
            "**billing-service** reports it (through Kafka, a moment later), the admin "
            "when they accept, payment when the first invoice is paid. `due_at` and "
            "`overdue` drive the `GET /v1/onboarding/stuck` list.",
        )
        await self.call(
            "GET",
            "onboarding",
            f"/v1/tenants/{tenant_id}/onboarding",
            roles=("onboarding",),
            expect=200,
        )

    async def etags(self, tenant_id: str) -> None:
        self.section(
            "ETag and If-Match",
            "Reads of single resources return an `ETag` (the resource's version). Updates "
            "send it back in `If-Match`: when someone else changed the resource meanwhile "
            "the update is refused with 412 instead of silently overwriting their change. "
            "On `PATCH` endpoints `If-Match` is required (428 without it). The body of every "
            "`PATCH` is a JSON Merge Patch (RFC 7396, `application/merge-patch+json` or "
            "`application/json`): members left out stay as they are, `null` removes one (back "
            "to its default), and a nested object such as `configuration` is merged key by "
            "key, so the patch below changes the locale and the time zone and keeps every "
            "other key.",
        )
        read = await self.call(
            "GET", "onboarding", f"/v1/tenants/{tenant_id}", roles=("onboarding",), expect=200
        )
        etag = read.headers["ETag"]
        patch = {"configuration": {"locale": "en-GB", "timezone": "Europe/Dublin"}}
        self.say("Without `If-Match`:")
        await self.call(
            "PATCH",
            "onboarding",
            f"/v1/tenants/{tenant_id}",
            roles=("onboarding",),
            body=patch,
            expect=428,
        )
        self.say("With a stale version:")
        stale = f'"{int(etag.strip(chr(34))) - 1}"'
        await self.call(
            "PATCH",
            "onboarding",
            f"/v1/tenants/{tenant_id}",
            roles=("onboarding",),
            body=patch,
            headers={"If-Match": stale},
            expect=412,
        )
        self.say("With the current one; the response has the new `ETag`:")
        await self.call(
            "PATCH",
            "onboarding",
            f"/v1/tenants/{tenant_id}",
            roles=("onboarding",),
            body=patch,
            headers={"If-Match": etag},
            expect=200,
        )

    async def billing(self, tenant_id: str) -> None:
        self.section(
            "Subscriptions and invoices",
            "The **billing-service** (port 8002) created the tenant's Stripe customer and "
            "subscription when onboarding announced the tenant; nobody called it. Reads are "
            "open to every staff role; a tenant-scoped token sees only its own.",
        )
        subs = (
            await self.call(
                "GET",
                "billing",
                "/v1/subscriptions",
                roles=("billing",),
                params={"tenant_id": tenant_id},
                expect=200,
            )
        ).json()
        sub = subs["items"][0]
        now = datetime.now(UTC).replace(microsecond=0)
        start, end = now - timedelta(days=2), now + timedelta(days=28)
        self.say(
            "Stripe then tells billing what happened, through signed webhooks "
            "(`POST /v1/stripe/webhooks`, verified with the `Stripe-Signature` header; "
            "unsigned or stale deliveries are a 400). Here, the first invoice was paid "
            "(the tour also delivered a `customer.subscription.updated` with status "
            "`active`, not shown):"
        )
        invoice = {
            "id": f"in_tour{self.run_id}",
            "object": "invoice",
            "customer": sub["stripe_customer_id"],
            "customer_email": "billing@example.com",
            "parent": {
                "type": "subscription_details",
                "subscription_details": {"subscription": sub["stripe_subscription_id"]},
            },
            "status": "paid",
            "number": f"TOUR-{self.run_id.upper()}-0001",
            "collection_method": "charge_automatically",
            "currency": sub["currency"],
            "amount_due": sub["recurring_amount"],
            "amount_paid": sub["recurring_amount"],
            "amount_remaining": 0,
            "attempt_count": 1,
            "billing_reason": "subscription_create",
            "period_start": int(start.timestamp()),
            "period_end": int(start.timestamp()),
            "hosted_invoice_url": f"https://invoice.stripe.com/i/in_tour{self.run_id}",
            "status_transitions": {
                "finalized_at": int(start.timestamp()),
                "paid_at": int(now.timestamp()),
            },
        }
        subscription = {
            "id": sub["stripe_subscription_id"],
            "object": "subscription",
            "customer": sub["stripe_customer_id"],
            "status": "active",
            "collection_method": "charge_automatically",
            "cancel_at_period_end": False,
            "items": {
                "object": "list",
                "data": [
                    {
                        "id": f"si_tour{self.run_id}",
                        "object": "subscription_item",
                        "quantity": sub["seats"],
                        "current_period_start": int(start.timestamp()),
                        "current_period_end": int(end.timestamp()),
                    }
                ],
            },
        }
        created = int(now.timestamp()) - 60
        await self.api.stripe_webhook(
            stripe_event("customer.subscription.updated", subscription, created=created),
            secret=self.secret,
        )
        payload = json.dumps(stripe_event("invoice.paid", invoice, created=created + 1))
        await self.call(
            "POST",
            "billing",
            "/v1/stripe/webhooks",
            content=payload,
            headers={
                "Stripe-Signature": stripe_signature(payload, secret=self.secret),
                "Content-Type": "application/json",
            },
            expect=200,
            auth=False,
        )

        async def paid() -> bool | None:
            page = await self.api.get(
                "billing", "/v1/invoices", params={"tenant_id": tenant_id}, roles=("billing",)
            )
            return True if any(i["status"] == "paid" for i in page["items"]) else None

        await eventually(paid, what="the webhook to be processed", timeout=60)
        self.say("The subscription is active now, and the invoice is mirrored:")
        await self.call(
            "GET",
            "billing",
            f"/v1/subscriptions/{sub['id']}",
            roles=("billing",),
            expect=200,
        )
        await self.call(
            "GET",
            "billing",
            "/v1/invoices",
            roles=("billing",),
            params={"tenant_id": tenant_id},
            expect=200,
        )
        self.section(
            "Renewals",
            "A scheduled scan (a Kubernetes CronJob; admins can run it with "
            "`POST /v1/renewals/scan`) tracks every renewal inside the window: "
            "`upcoming`, then `invoiced` (by Stripe, or by us when Stripe's automation "
            "did not fire or the customer pays by invoice), `paid` or `at_risk`.",
        )
        await self.call("POST", "billing", "/v1/renewals/scan", roles=("admin",), expect=200)
        await self.call(
            "GET",
            "billing",
            "/v1/renewals",
            roles=("billing",),
            params={"tenant_id": tenant_id},
            expect=200,
        )

    async def tickets(self, tenant_id: str) -> str:
        self.section(
            "A ticket: triage and timeline",
            "The **ticket-service** (port 8001) is the help desk. A customer portal "
            "creates tickets with a *tenant-scoped* token (any role plus a `tenant_id` "
            "claim: `make token ROLE=agent TENANT=<id>`); it sees and writes only its "
            "tenant's tickets, as the customer. The ticket is triaged by the ordered "
            "rules at once (category, priority, queue, tags, and why) and assigned.",
        )
        created = (
            await self.call(
                "POST",
                "ticket",
                "/v1/tickets",
                tenant_id=tenant_id,
                body={
                    "tenant_id": tenant_id,
                    "requester": {"email": f"pat@tour-{self.run_id}.example", "name": "Pat Admin"},
                    "channel": "web",
                    "subject": "Need a copy of last month's invoice",
                    "body": "Our accounting team needs a PDF copy of last month's invoice.",
                },
                headers={"Idempotency-Key": f"tour-{self.run_id}-ticket"},
                expect=201,
            )
        ).json()
        ticket_id: str = created["id"]
        self.say(
            "Staff read the whole ticket: the timeline (messages, notes, status changes, "
            "triage with its reasons), the SLA clocks, the verified account context and "
            "linked bugs."
        )
        await self.call("GET", "ticket", f"/v1/tickets/{ticket_id}", expect=200)
        return ticket_id

    async def template_reply(self, ticket_id: str) -> None:
        self.section(
            "A reply from an approved template",
            "Agents answer with approved, versioned templates (`GET /v1/templates`); the "
            "reply records the template key and version. Built-in variables "
            "(`requester_name`, `ticket_subject`, …) are filled from the ticket.",
        )
        await self.call("GET", "ticket", "/v1/templates", params={"limit": 2}, expect=200)
        templates = await self.api.all_pages("ticket", "/v1/templates")
        keys = {t["key"] for t in templates}
        if "invoice_copy" in keys:
            key, variables = "invoice_copy", {"invoice_number": "TOUR-0001"}
        else:
            key, variables = (
                "bug_fixed",
                {
                    "bug_key": "BUG-1",
                    "bug_title": "example",
                    "fixed_in_version": "1.0",
                },
            )
        await self.call(
            "POST",
            "ticket",
            f"/v1/tickets/{ticket_id}/template-replies",
            body={"template_key": key, "variables": variables},
            headers={"Idempotency-Key": f"tour-{self.run_id}-reply"},
            expect=201,
        )

    async def account(self, tenant_id: str) -> None:
        async def known() -> bool | None:
            account = await self.api.get("ticket", f"/v1/accounts/{tenant_id}", roles=("agent",))
            return True if account["subscription_status"] == "active" else None

        await eventually(known, what="the account context to follow the events", timeout=60)
        self.section(
            "The account context",
            "What an agent needs to verify a caller, kept by the ticket-service from the "
            "other services' events (it never calls them): tenant status, users and their "
            "status, subscription and renewal, open and overdue invoices, open bugs.",
        )
        await self.call("GET", "ticket", f"/v1/accounts/{tenant_id}", expect=200)

    async def _retire_earlier_tour_bugs(self) -> None:
        """Earlier tours' bugs describe the same defect: retire them (``wont_fix``), or this
        run's report would be linked to one as a duplicate instead of filing a bug."""
        tenants = await self.api.all_pages(
            "onboarding", "/v1/tenants", params={"q": "tour-"}, roles=("onboarding",)
        )
        for tenant in tenants:
            if not any(d.startswith("tour-") for d in tenant["domains"]):
                continue
            bugs = await self.api.all_pages(
                "escalation", "/v1/bugs", params={"tenant_id": tenant["id"]}, roles=("qa",)
            )
            for bug in bugs:
                if bug["status"] not in {"wont_fix", "closed"} and not bug["duplicate_of_id"]:
                    await self.api.post(
                        "escalation",
                        f"/v1/bugs/{bug['id']}/transitions",
                        {"to": "wont_fix", "note": "retired by the next API tour run"},
                        roles=("qa",),
                        expect=(200, 409),
                    )

    async def bugs(self, tenant_id: str) -> None:
        await self._retire_earlier_tour_bugs()
        self.section(
            "A bug: escalation, reproduction, QA",
            "A ticket triaged `potential_bug` is escalated by an agent with steps, "
            "expected and actual behaviour, environment and severity (422 names each "
            "missing or trivial field). The **escalation-service** (port 8004) files a bug "
            "from it, or links the ticket to an open duplicate.",
        )
        ticket = (
            await self.call(
                "POST",
                "ticket",
                "/v1/tickets",
                roles=("agent",),
                body={
                    "tenant_id": tenant_id,
                    "requester": {"email": f"sam@tour-{self.run_id}.example", "name": "Sam Member"},
                    "channel": "chat",
                    "subject": "Saved views crash with error 500 after renaming",
                    "body": "Renaming a saved view shows an error page (500) since this morning.",
                },
                expect=201,
            )
        ).json()
        steps = [
            "Open Saved views",
            "Rename a view to a name with an ampersand, e.g. 'Q3 & Q4'",
            "Press Enter",
        ]
        environment = {"app_version": "4.12.1", "browser": "Chrome 131", "os": "macOS 15"}
        await self.call(
            "POST",
            "ticket",
            f"/v1/tickets/{ticket['id']}/escalations",
            body={
                "title": "Renaming a saved view with an ampersand fails with 500",
                "steps": steps,
                "expected": "The view is renamed",
                "actual": "An error page with status 500; the old name stays",
                "environment": environment,
                "severity": "high",
            },
            headers={"Idempotency-Key": f"tour-{self.run_id}-escalation"},
            expect=201,
        )

        async def filed() -> dict[str, Any] | None:
            page = await self.api.get(
                "escalation", "/v1/bugs", params={"ticket_id": ticket["id"]}, roles=("qa",)
            )
            items: list[dict[str, Any]] = page["items"]
            return items[0] if items else None

        bug = await eventually(filed, what="the bug to be filed", timeout=60)
        bug_id = bug["id"]
        self.say("QA finds the bug by ticket:")
        await self.call(
            "GET",
            "escalation",
            "/v1/bugs",
            roles=("qa",),
            params={"ticket_id": ticket["id"]},
            expect=200,
        )
        self.say(
            "QA works it through the workflow (`POST /v1/bugs/{id}/transitions`; a move "
            "that is not allowed is a 409 listing the allowed targets), recording a "
            "reproduction on the way:"
        )
        await self.call(
            "POST",
            "escalation",
            f"/v1/bugs/{bug_id}/transitions",
            roles=("qa",),
            body={"to": "reproducing", "note": "picked up"},
            expect=200,
        )
        await self.call(
            "POST",
            "escalation",
            f"/v1/bugs/{bug_id}/reproductions",
            roles=("qa",),
            body={
                "environment": environment,
                "steps_followed": steps,
                "outcome": "reproduced",
                "evidence": [
                    {"kind": "log_excerpt", "name": "server log", "content": "KeyError: '&'"}
                ],
            },
            headers={"Idempotency-Key": f"tour-{self.run_id}-repro"},
            expect=201,
        )
        await self.api.post(
            "escalation",
            f"/v1/bugs/{bug_id}/transitions",
            {"to": "reproduced"},
            roles=("qa",),
        )
        self.say(
            "Escalating to engineering passes a quality gate (steps, expected ≠ actual, app "
            "version, a successful reproduction) and files the issue in QA's tracker:"
        )
        await self.call(
            "POST",
            "escalation",
            f"/v1/bugs/{bug_id}/transitions",
            roles=("qa",),
            body={"to": "escalated", "escalated_to": "engineering"},
            expect=200,
        )
        self.say(
            "The bug with its completeness score, linked tickets (with their status and "
            "SLA state), affected tenants, impact and history. When it is fixed, every "
            "linked ticket gets a note and the approved reply, and is solved."
        )
        await self.call("GET", "escalation", f"/v1/bugs/{bug_id}", roles=("qa",), expect=200)
        await self.duplicate_verdicts(tenant_id, bug_id, environment)

    async def duplicate_verdicts(
        self, tenant_id: str, bug_id: str, environment: dict[str, str]
    ) -> None:
        self.section(
            "Duplicates: candidates, verdicts and the model that learns from them",
            "Before filing, an agent asks which open bugs look like a report "
            "(`POST /v1/bugs/similar`: each candidate with its score and the reasons, "
            "counter-evidence included, and the auto-link threshold of the model in use). "
            "Filing links automatically only above that threshold; below it the "
            "candidates are listed for a human. QA's judgement of a listed candidate is "
            "stored with the pair's signals (`POST /v1/bugs/{id}/duplicate-verdicts`; "
            "merging records `duplicate` too) and the nightly refit "
            "(`escalation-service duplicates-refit`, or `POST /v1/duplicate-model/refit` "
            "for an admin) learns from it (docs/triage.md, decision 0053).",
        )
        report = {
            "title": "Renaming a saved view to an empty name is accepted",
            "summary": "A saved view can be renamed to an empty name; it then shows as "
            "an unnamed row in the list.",
            "steps": ["Open Saved views", "Rename a view", "Clear the name and press Enter"],
            "expected": "The empty name is refused",
            "actual": "The view is saved with no name",
            "environment": environment,
        }
        await self.call(
            "POST",
            "escalation",
            "/v1/bugs/similar",
            roles=("agent",),
            body={
                "title": report["title"],
                "description": report["summary"],
                "steps": report["steps"],
                "actual": report["actual"],
            },
            expect=200,
        )
        self.say(
            "The agent files it as a new bug anyway (`force_new`), and QA records that the "
            "listed look-alike is a different defect:"
        )
        other = (
            await self.call(
                "POST",
                "escalation",
                "/v1/bugs",
                roles=("agent",),
                body={**report, "tenant_id": tenant_id, "severity": "low", "force_new": True},
                headers={"Idempotency-Key": f"tour-{self.run_id}-near-miss"},
                expect=201,
            )
        ).json()["bug"]
        await self.call(
            "POST",
            "escalation",
            f"/v1/bugs/{other['id']}/duplicate-verdicts",
            roles=("qa",),
            body={"other_bug_id": bug_id, "verdict": "different"},
            expect=201,
        )
        self.say(
            "The model in use, its threshold and weights, and the verdicts waiting for the "
            "next refit:"
        )
        await self.call("GET", "escalation", "/v1/duplicate-model", roles=("qa",), expect=200)

    async def pagination(self) -> None:
        self.section(
            "Pagination",
            "Every list is cursor-paginated in a stable order: pass `limit` (1 to 200, "
            "default 50) and then the `next_cursor` of the previous page as `cursor`; "
            "`next_cursor` is `null` on the last page. Filters are query parameters.",
        )
        first = (
            await self.call(
                "GET", "ticket", "/v1/tickets", params={"queue": "billing", "limit": 2}, expect=200
            )
        ).json()
        if first.get("next_cursor"):
            await self.call(
                "GET",
                "ticket",
                "/v1/tickets",
                params={"queue": "billing", "limit": 2, "cursor": first["next_cursor"]},
                expect=200,
            )

    async def errors(self, tenant_id: str) -> None:
        self.section(
            "Errors are problem+json",
            "Every error, in every service, is an RFC 9457 `application/problem+json` "
            "document with a stable `type` (switch on it, not on `detail`), the `status`, "
            "a human `detail` and the `instance` path; some carry more members "
            "(`errors`, `allowed`, `reasons`, …). Invalid input is a 422 naming each field:",
        )
        await self.call(
            "POST",
            "ticket",
            "/v1/tickets",
            body={"tenant_id": tenant_id, "channel": "fax", "subject": ""},
            expect=422,
        )
        self.say("No token (only health, metrics and signed webhooks are open):")
        await self.call("GET", "billing", "/v1/invoices", expect=401, auth=False)
        self.say("A tenant-scoped token asking for staff-only data:")
        await self.call(
            "GET", "ticket", f"/v1/accounts/{tenant_id}", tenant_id=tenant_id, expect=403
        )
        self.say("Something that does not exist (or belongs to another tenant):")
        await self.call(
            "GET",
            "onboarding",
            "/v1/tenants/00000000-0000-0000-0000-000000000000",
            roles=("onboarding",),
            expect=404,
        )
        self.say("A transition the state machine does not allow:")
        await self.call(
            "POST",
            "onboarding",
            f"/v1/tenants/{tenant_id}/status",
            roles=("onboarding",),
            body={"status": "onboarding"},
            expect=409,
        )


# --- markdown ----------------------------------------------------------------------------


def _curl(exchange: Exchange) -> str:
    lines = [f"curl -s -X {exchange.method} '{exchange.url}'"]
    for name, value in exchange.headers.items():
        lines.append(f'  -H "{name}: {value}"')
    if exchange.raw_body is not None:
        lines.append("  --data-binary @event.json")
    elif exchange.body is not None:
        lines.append("  -d '" + json.dumps(exchange.body, indent=2, ensure_ascii=False) + "'")
    return " \\\n".join(lines)


def _raw_body(exchange: Exchange) -> list[str]:
    """A signed body: shown as the file the request sends (the signature covers its bytes)."""
    if exchange.raw_body is None:
        return []
    event = json.loads(exchange.raw_body)
    return [
        "`event.json` (the signature is an HMAC of `<t>.<exact body bytes>` with the "
        "webhook secret, `BILLING_STRIPE_WEBHOOK_SECRET`):",
        "",
        "```json",
        json.dumps(shorten(event), indent=2, ensure_ascii=False),
        "```",
        "",
    ]


def _response(exchange: Exchange) -> str:
    reason = HTTPStatus(exchange.status).phrase
    lines = [f"HTTP/1.1 {exchange.status} {reason}"]
    lines += [f"{k}: {v}" for k, v in exchange.response_headers.items()]
    body = exchange.response_body
    if body not in (None, ""):
        lines.append("")
        lines.append(json.dumps(shorten(body), indent=2, ensure_ascii=False))
    return "\n".join(lines)


def render(tour: Tour, services: Services, *, generated_at: datetime) -> str:
    out = [
        "# API tour",
        "",
        "A walk through the main endpoints of the four services for frontend developers, "
        "with real requests and the responses the running system gave to them. It was "
        f"generated on {generated_at:%Y-%m-%d %H:%M} UTC by `make api-tour` "
        "(`scripts/api_tour.py`) against `make up`; ids, times and tokens differ on every "
        "run. Long lists and strings in responses are cut (marked `…`).",
        "",
        "## Before you start",
        "",
        "| service | what it owns | Swagger UI | OpenAPI |",
        "|---|---|---|---|",
    ]
    owns = {
        "ticket": "tickets, triage, SLAs, templates, account context, CSAT",
        "billing": "plans, subscriptions, invoices, renewals, refunds, Stripe webhooks",
        "onboarding": "tenants, users, invitations, the onboarding checklist",
        "escalation": "bugs, duplicates, reproductions, QA workflow",
    }
    for name, url in services.items():
        out.append(f"| {name}-service | {owns[name]} | {url}/docs | {url}/openapi.json |")
    out += [
        "",
        "The OpenAPI documents are the reference for every field; generate clients from "
        "them. Every `/v1` endpoint needs `Authorization: Bearer <JWT>`. For local work, "
        "mint tokens with the role you need (`admin` passes every role check):",
        "",
        "```bash",
        "export ADMIN_TOKEN=$(make -s token ROLE=admin)",
        "export AGENT_TOKEN=$(make -s token ROLE=agent)",
        "export BILLING_TOKEN=$(make -s token ROLE=billing)",
        "export ONBOARDING_TOKEN=$(make -s token ROLE=onboarding)",
        "export QA_TOKEN=$(make -s token ROLE=qa)",
        "export SERVICE_TOKEN=$(make -s token ROLE=service)",
        "export TENANT_TOKEN=$(make -s token ROLE=agent TENANT=<tenant id>)   # a customer portal",
        "```",
        "",
        "`make demo` fills the system with a realistic dataset to browse (and prints "
        "ready-to-run requests). The services cooperate only through Kafka events, so "
        "some effects of a request (the subscription of a new tenant, a bug filed from "
        "an escalated ticket) appear a moment later: poll, or read again when the user "
        "looks.",
        "",
        "## Contents",
        "",
    ]
    for number, section in enumerate(tour.sections, 1):
        out.append(f"{number}. [{section.title}](#{number}-{section.anchor})")
    for number, section in enumerate(tour.sections, 1):
        out += ["", f"## {number}. {section.title}", "", section.text]
        for part in section.parts:
            out.append("")
            if isinstance(part, str):
                out.append(part)
                continue
            if part.repeat:
                key = part.headers.get("Idempotency-Key", "")
                out += [
                    "```bash",
                    "# exactly the request above again: same body, same Idempotency-Key",
                    f"curl -s -X {part.method} '{part.url}' -H \"Idempotency-Key: {key}\" …",
                    "```",
                ]
            else:
                out += [*_raw_body(part), "```bash", _curl(part), "```"]
            out += ["", "```http", _response(part), "```"]
    out += [
        "",
        "## Regenerating this page",
        "",
        "```bash",
        "make up          # the four services on 8001-8004",
        "make api-tour    # runs scripts/api_tour.py and rewrites docs/api-tour.md",
        "```",
        "",
        "`make test` runs the same tour against its own stack "
        "(`tests/integration/test_api_tour.py`), so every request here still answers "
        "as shown. The script needs a monthly billing plan (`make up` seeds them) and "
        "adds one tenant (`Tour Analytics`, domain `tour-<run id>.example`) with a ticket "
        "and a bug each time it runs.",
        "",
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.api_tour",
        description="Write docs/api-tour.md from real requests to the running services.",
    )
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    tokens = Tokens.from_settings()
    services = Services.local()
    run_id = secrets.token_hex(3)

    async def go() -> Tour:
        async with Api(services, tokens, concurrency=4, subject_prefix="tour") as api:
            tour = Tour(api, run_id=run_id, webhook_secret=stripe_webhook_secret())
            await tour.run()
            return tour

    tour = asyncio.run(go())
    args.output.write_text(render(tour, services, generated_at=datetime.now(UTC)))
    sys.stdout.write(f"wrote {args.output} ({sum(len(s.parts) for s in tour.sections)} parts)\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
