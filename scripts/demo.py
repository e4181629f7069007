"""``make demo``: seed a realistic dataset through the public REST APIs and signed Stripe
webhooks of the running services, then print what to look at.

    uv run --frozen python -m scripts.demo [--tenants 20] [--users 200] [--tickets 500]

Nothing touches a database directly: tenants and users go through onboarding, Stripe's
side of billing arrives as signed webhooks, tickets through the ticket-service (e-mail
intake, the customer portal with a tenant-scoped token, and agents), bugs through
escalations from tickets. Every run has its own id (domains, e-mail addresses and
``Idempotency-Key`` values carry it), so running it again adds another dataset instead
of failing.
"""

from __future__ import annotations

import argparse
import asyncio
import calendar
import os
import random
import secrets
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from scripts import demo_data as data
from scripts.devclient import (
    Api,
    ApiError,
    Services,
    Tokens,
    eventually,
    stripe_event,
    stripe_webhook_secret,
)

T = TypeVar("T")
Log = Callable[[str], None]

TIERS = ("starter", "team", "business", "enterprise")
DEFAULT_PLANS = {
    # tier: (name, price per seat and month in cents)
    "starter": ("Starter (monthly)", 900),
    "team": ("Team (monthly)", 1900),
    "business": ("Business (monthly)", 3900),
    "enterprise": ("Enterprise (monthly)", 7900),
}
TIER_ORDER = ["team", "business", "starter", "enterprise", "team", "business", "team", "starter"]
TIER_WEIGHT = {"starter": 1.0, "team": 2.0, "business": 3.0, "enterprise": 4.0}


@dataclass(frozen=True)
class Profile:
    """What happened to a tenant on Stripe's side, told through webhooks."""

    name: str
    collection_method: str
    story: str


PROFILES = {
    p.name: p
    for p in [
        Profile("payment_failed", "charge_automatically", "renewal payment failed (dunning)"),
        Profile(
            "net_terms_renewal_due", "send_invoice", "net terms, period ended: renewal invoiced"
        ),
        Profile("healthy", "charge_automatically", "paid by card, renews next month"),
        Profile("renewal_this_month", "charge_automatically", "renews this month"),
        Profile("payment_recovered", "charge_automatically", "payment failed, then paid"),
        Profile("overdue", "send_invoice", "net-terms invoice 12 days overdue"),
        Profile(
            "automation_missed",
            "charge_automatically",
            "Stripe's renewal invoice never came: issued by the scan",
        ),
        Profile("canceling", "charge_automatically", "cancels at period end"),
        Profile("suspended", "charge_automatically", "4 failed attempts: suspended"),
        Profile("trialing", "charge_automatically", "in trial, nothing paid yet"),
        Profile("net_terms", "send_invoice", "net terms, open invoice, renews this month"),
        Profile("onboarding_pending", "charge_automatically", "admin never accepted the invite"),
    ]
}
PROFILE_ORDER = [
    "payment_failed",
    "net_terms_renewal_due",
    "healthy",
    "renewal_this_month",
    "payment_recovered",
    "overdue",
    "automation_missed",
    "canceling",
    "suspended",
    "trialing",
    "net_terms",
    "onboarding_pending",
    "healthy",
    "renewal_this_month",
    "net_terms",
    "healthy",
    "renewal_this_month",
    "healthy",
    "payment_failed",
    "healthy",
]
"""The first tenants get the most telling stories, so a small run still shows them."""
FOLLOWUP_PROFILES = {"payment_failed", "payment_recovered", "overdue", "suspended"}
USER_STATUS_PATTERN = [
    "active", "active", "invited", "active", "locked", "active", "deactivated", "active",
    "active", "invited", "active", "active", "deactivated", "active", "locked", "active",
    "active", "invited", "active", "deactivated",
]  # fmt: skip
TICKET_FATES = [
    ("new", 0.30),
    ("replied", 0.14),
    ("template_reply", 0.10),
    ("pending", 0.08),
    ("customer_followup", 0.05),
    ("on_hold", 0.03),
    ("solved", 0.10),
    ("solved_csat", 0.20),
]
CSAT_RATINGS = [(5, 0.45), (4, 0.30), (3, 0.12), (2, 0.08), (1, 0.05)]
CSAT_COMMENTS = [
    "Quick and friendly, thank you!",
    "Solved on the first reply.",
    "Took a while, but it works now.",
    "I had to explain the problem twice.",
    None,
    None,
]
TEMPLATE_FOR: dict[str, tuple[str, Callable[[random.Random], dict[str, str]]]] = {
    "billing": ("invoice_copy", lambda rng: {"invoice_number": f"INV-{rng.randint(1000, 9999)}"}),
    "platform_question": (
        "how_to_article",
        lambda rng: {
            "topic": "sharing and permissions",
            "article_url": "https://help.example.com/articles/sharing",
        },
    ),
    "onboarding": (
        "how_to_article",
        lambda rng: {
            "topic": "getting your team started",
            "article_url": "https://help.example.com/articles/first-steps",
        },
    ),
    "feature_request": ("feature_request_logged", lambda rng: {}),
}
ACCESS_ACTION_FOR = {
    # ticket subcategory: (action, the requester's status it fits, status afterwards)
    "mfa": ("mfa_reset", "active", "active"),
    "login": ("unlock", "locked", "active"),
    "inactive": ("reactivate", "deactivated", "active"),
    "activation": ("resend_activation", "invited", "invited"),
}


# --- what the run creates ----------------------------------------------------------------


@dataclass
class DemoConfig:
    tenants: int = 20
    users: int = 200
    """Including each tenant's first admin."""
    tickets: int = 500
    """Customers' tickets; billing follow-ups opened by the system come on top."""
    run_id: str = field(default_factory=lambda: secrets.token_hex(3))
    webhook_secret: str | None = None
    """The billing-service's Stripe webhook secret (default: from its settings)."""
    wait_timeout: float = 120.0
    """How long to wait for what events bring about (subscriptions, bugs, follow-ups)."""

    def validate(self) -> None:
        if self.tenants < 1:
            raise ValueError("at least one tenant")
        if self.users < self.tenants:
            raise ValueError("at least one user (the first admin) per tenant")
        if self.tickets < 2:
            raise ValueError("at least two tickets (a bug and its duplicate)")
        if not self.run_id.isalnum() or len(self.run_id) > 12:
            raise ValueError("the run id is at most 12 letters or digits")


@dataclass
class SeedUser:
    email: str
    name: str
    role: str
    target: str
    """invited, active, locked or deactivated (where the demo leaves the user)."""
    id: str = ""
    invitation_token: str = ""
    final_status: str = ""


@dataclass
class SeedTenant:
    index: int
    company: str
    domain: str
    profile: Profile
    tier: str
    plan_code: str
    seats: int
    days_until_due: int | None
    users: list[SeedUser]
    id: str = ""
    subscription: dict[str, Any] = field(default_factory=dict)
    configured_at_creation: bool = True
    trace_id: str = field(default_factory=lambda: secrets.token_hex(16))
    """The W3C trace id its creation request starts: the "new customer" journey's trace
    (onboarding -> Kafka -> billing -> Stripe -> ...) in Jaeger."""

    @property
    def admin(self) -> SeedUser:
        return self.users[0]

    def users_with(self, status: str) -> list[SeedUser]:
        return [u for u in self.users if u.final_status == status]


@dataclass
class SeedTicket:
    tenant: SeedTenant
    category: str
    subcategory: str | None
    channel: str
    subject: str
    body: str
    requester: SeedUser
    fate: str
    bug_group: int | None = None
    bug_title: str | None = None
    id: str = ""
    triaged_category: str | None = None
    triaged_subcategory: str | None = None
    access_action: str | None = None


@dataclass
class DemoReport:
    run_id: str
    services: Services
    tenants: list[SeedTenant]
    tickets: list[SeedTicket]
    plans: dict[str, str]
    """tier → plan code used."""
    bugs: dict[int, dict[str, Any]] = field(default_factory=dict)
    """bug group → the bug (as the escalation-service reports it)."""
    followups: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """tenant id → its billing follow-up tickets."""
    renewals: list[dict[str, Any]] = field(default_factory=list)
    csat_ratings: list[int] = field(default_factory=list)
    access_actions: list[tuple[str, str]] = field(default_factory=list)
    """(ticket id, action) requested through the verification gate."""
    scan: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    requests: int = 0

    def user_counts(self) -> Counter[str]:
        return Counter(u.final_status for t in self.tenants for u in t.users)

    def tenant(self, profile: str) -> SeedTenant | None:
        return next((t for t in self.tenants if t.profile.name == profile), None)


# --- helpers ---------------------------------------------------------------------------


def add_months(at: datetime, months: int) -> datetime:
    index = at.month - 1 + months
    year, month = at.year + index // 12, index % 12 + 1
    return at.replace(year=year, month=month, day=min(at.day, calendar.monthrange(year, month)[1]))


def end_of_month(now: datetime) -> datetime:
    return add_months(now.replace(day=1, hour=0, minute=0, second=0, microsecond=0), 1)


def weighted(rng: random.Random, choices: Sequence[tuple[T, float]]) -> T:
    return rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]


def allocate(
    total: int, weights: Sequence[float], minimum: Sequence[int] | None = None
) -> list[int]:
    """Split ``total`` by ``weights`` (largest remainder), honouring per-slot minimums in
    order while there is enough to go round."""
    counts = [0] * len(weights)
    left = total
    for i, need in enumerate(minimum or []):
        give = min(need, left)
        counts[i] += give
        left -= give
    if left <= 0:
        return counts
    scale = sum(weights)
    shares = [left * w / scale for w in weights]
    floors = [int(s) for s in shares]
    for i, f in enumerate(floors):
        counts[i] += f
    rest = left - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: shares[i] - floors[i], reverse=True)
    for i in order[:rest]:
        counts[i] += 1
    return counts


async def gather_limited(items: Iterable[T], fn: Callable[[T], Awaitable[Any]]) -> list[Any]:
    """Run ``fn`` over items concurrently (the Api's semaphore bounds the requests)."""
    return list(await asyncio.gather(*(fn(item) for item in items)))


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def ts(at: datetime) -> int:
    return int(at.timestamp())


# --- the seeder ------------------------------------------------------------------------


class Seeder:
    def __init__(self, api: Api, config: DemoConfig, log: Log) -> None:
        config.validate()
        self.api = api
        self.config = config
        self.log = log
        self.run = config.run_id
        self.rng = random.Random(f"supportops-demo-{config.run_id}")
        self.secret = config.webhook_secret or stripe_webhook_secret()
        self.now = datetime.now(UTC)
        self.plans: dict[str, dict[str, Any]] = {}
        self.tenants: list[SeedTenant] = []
        self.tickets: list[SeedTicket] = []
        self.bugs: dict[int, dict[str, Any]] = {}
        self.csat: list[int] = []
        self.access_done: list[tuple[str, str]] = []
        self.scan: dict[str, Any] = {}
        self._created_clock = int(time.time()) - 900

    def key(self, *parts: object) -> str:
        return "demo-" + self.run + "-" + "-".join(str(p) for p in parts)

    def created(self) -> int:
        """Strictly increasing Stripe ``created`` times: Stripe's order of events."""
        self._created_clock += 1
        return self._created_clock

    async def run_all(self) -> DemoReport:
        started = time.monotonic()
        await self.preflight()
        await self.catalog()
        self.plan_tenants()
        await self.create_tenants()
        await self.create_users()
        await self.billing()
        self.plan_tickets()
        await self.create_tickets()
        await self.work_tickets()
        await self.access_actions()
        await self.escalate_bugs()
        await self.qa()
        report = DemoReport(
            run_id=self.run,
            services=self.api.services,
            tenants=self.tenants,
            tickets=self.tickets,
            plans={tier: str(plan["code"]) for tier, plan in self.plans.items()},
        )
        await self.settle(report)
        report.seconds = time.monotonic() - started
        report.requests = self.api.requests_made
        return report

    # -- 0. is everything there ---------------------------------------------------------

    async def preflight(self) -> None:
        verdicts = await self.api.ready()
        down = {name: v for name, v in verdicts.items() if v != "ready"}
        if down:
            detail = ", ".join(f"{name}: {v}" for name, v in down.items())
            raise SystemExit(f"the services are not ready ({detail}); run `make up` first")
        self.log(f"run {self.run}: all four services ready")

    # -- 1. plans, agents, templates (shared by every run) --------------------------------

    async def catalog(self) -> None:
        existing = await self.api.all_pages("billing", "/v1/plans", roles=("admin",))
        usable = [
            p for p in existing if not p.get("archived") and p.get("interval", "month") == "month"
        ]
        for tier in TIERS:
            same_tier = [p for p in usable if p["tier"] == tier and p.get("currency") == "usd"]
            # billing's default plans (`billing-service seed-plans`) are <tier>-monthly
            standard = f"{tier}-monthly"
            same_tier.sort(key=lambda p: (p["code"] != standard, p["code"] != tier, p["code"]))
            if same_tier:
                self.plans[tier] = same_tier[0]
                continue
            codes = {p["code"] for p in existing}
            code = standard if standard not in codes else f"{standard}-demo"
            name, amount = DEFAULT_PLANS[tier]
            self.plans[tier] = await self.api.post(
                "billing",
                "/v1/plans",
                {
                    "code": code,
                    "name": name,
                    "tier": tier,
                    "unit_amount": amount,
                    "currency": "usd",
                    "interval": "month",
                },
                roles=("admin",),
                idempotency_key=f"demo-plan-{code}",
            )
            self.log(f"created plan {code} ({tier})")
        agents = {a["id"] for a in await self.api.all_pages("ticket", "/v1/agents")}
        for agent_id, name, queues in data.AGENTS:
            if agent_id not in agents:
                first = name.split()[0].lower()
                await self.api.post(
                    "ticket",
                    "/v1/agents",
                    {
                        "id": agent_id,
                        "name": name,
                        "email": f"{first}@support.supportops.example",
                        "queues": queues,
                    },
                    idempotency_key=f"demo-agent-{agent_id}",
                )
        templates = {t["key"] for t in await self.api.all_pages("ticket", "/v1/templates")}
        for spec in data.TEMPLATES:
            if spec.key not in templates:
                await self.api.post(
                    "ticket",
                    "/v1/templates",
                    {
                        "key": spec.key,
                        "title": spec.title,
                        "body": spec.body,
                        "variables": spec.variables,
                    },
                    roles=("admin",),
                    subject="demo-template-author",
                    idempotency_key=f"demo-template-{spec.key}",
                )
                # four eyes: a second admin approves the text before it reaches customers
                await self.api.post(
                    "ticket",
                    f"/v1/templates/{spec.key}/versions/1/approval",
                    roles=("admin",),
                    subject="demo-template-reviewer",
                )
        self.log(f"plans: {', '.join(p['code'] for p in self.plans.values())}; agents, templates")

    # -- 2. tenants and their users -----------------------------------------------------

    def plan_tenants(self) -> None:
        count = self.config.tenants
        tiers = [TIER_ORDER[i % len(TIER_ORDER)] for i in range(count)]
        members = allocate(self.config.users - count, [TIER_WEIGHT[t] for t in tiers])
        pattern_at = 0
        used_names: set[str] = set()
        for index in range(count):
            company, stem = data.COMPANIES[index % len(data.COMPANIES)]
            if index >= len(data.COMPANIES):
                company = f"{company} {index // len(data.COMPANIES) + 1}"
                stem = f"{stem}{index // len(data.COMPANIES) + 1}"
            domain = f"{stem}-{self.run}.example"
            profile = PROFILES[PROFILE_ORDER[index % len(PROFILE_ORDER)]]
            users = [self._person(domain, used_names, role="admin", target="active")]
            if profile.name == "onboarding_pending":
                users[0].target = "invited"
            for _ in range(members[index]):
                target = USER_STATUS_PATTERN[pattern_at % len(USER_STATUS_PATTERN)]
                pattern_at += 1
                users.append(self._person(domain, used_names, role="member", target=target))
            # every user holds a seat while invited (the ones deactivated later too)
            tier = tiers[index]
            self.tenants.append(
                SeedTenant(
                    index=index,
                    company=company,
                    domain=domain,
                    profile=profile,
                    tier=tier,
                    plan_code=str(self.plans[tier]["code"]),
                    seats=len(users) + self.rng.randint(1, 6),
                    days_until_due=(14 if profile.name == "overdue" else 30)
                    if profile.collection_method == "send_invoice"
                    else None,
                    users=users,
                    configured_at_creation=profile.name != "onboarding_pending",
                )
            )

    def _person(self, domain: str, used: set[str], *, role: str, target: str) -> SeedUser:
        while True:
            first = self.rng.choice(data.FIRST_NAMES)
            last = self.rng.choice(data.LAST_NAMES)
            email = f"{first}.{last}@{domain}".lower()
            if email not in used:
                used.add(email)
                return SeedUser(email=email, name=f"{first} {last}", role=role, target=target)

    async def create_tenants(self) -> None:
        async def create(tenant: SeedTenant) -> None:
            configuration: dict[str, Any] = {
                "locale": self.rng.choice(data.LOCALES),
                "timezone": self.rng.choice(data.TIMEZONES),
                "data_region": "eu" if tenant.index % 3 == 1 else "us",
                "mfa_required": True,
                "session_timeout_minutes": self.rng.choice([480, 720, 1440]),
                "feature_flags": {"new_inbox": tenant.index % 2 == 0, "ai_summaries": False},
            }
            if tenant.tier == "enterprise":
                configuration["sso"] = {
                    "enabled": True,
                    "protocol": "saml",
                    "metadata_url": f"https://idp.{tenant.domain}/saml/metadata",
                    "enforce": False,
                }
            billing: dict[str, Any] = {
                "collection_method": tenant.profile.collection_method,
                "billing_email": f"billing@{tenant.domain}",
            }
            if tenant.days_until_due is not None:
                billing["days_until_due"] = tenant.days_until_due
            body: dict[str, Any] = {
                "company_name": tenant.company,
                "domains": [tenant.domain],
                "plan_code": tenant.plan_code,
                "seats": tenant.seats,
                "billing": billing,
                "admin": {"email": tenant.admin.email, "name": tenant.admin.name},
            }
            if tenant.configured_at_creation:
                body["configuration"] = configuration
            created = await self.api.post(
                "onboarding",
                "/v1/tenants",
                body,
                roles=("onboarding",),
                subject="demo-onboarding-specialist",
                idempotency_key=self.key("tenant", tenant.index),
                # a sampled parent: the services continue this trace across Kafka
                headers={"traceparent": f"00-{tenant.trace_id}-{secrets.token_hex(8)}-01"},
            )
            tenant.id = created["tenant"]["id"]
            tenant.admin.id = created["admin_invitation"]["user"]["id"]
            tenant.admin.invitation_token = created["admin_invitation"]["invitation_token"]

        await gather_limited(self.tenants, create)
        self.log(f"{len(self.tenants)} tenants created")

    async def create_users(self) -> None:
        async def invite(pair: tuple[SeedTenant, SeedUser]) -> None:
            tenant, user = pair
            invited = await self.api.post(
                "onboarding",
                f"/v1/tenants/{tenant.id}/users",
                {"email": user.email, "name": user.name, "role": user.role},
                roles=("onboarding",),
                subject="demo-onboarding-specialist",
                idempotency_key=self.key("invite", user.email),
            )
            user.id = invited["user"]["id"]
            user.invitation_token = invited["invitation_token"]

        members = [(t, u) for t in self.tenants for u in t.users[1:]]
        await gather_limited(members, invite)

        async def settle(user: SeedUser) -> None:
            if user.target != "invited":
                await self.api.post(
                    "onboarding",
                    "/v1/invitations/accept",
                    {"token": user.invitation_token, "name": user.name},
                    roles=("service",),
                    subject="identity-system",
                )
            if user.target == "active":
                await self.api.post(
                    "onboarding",
                    f"/v1/users/{user.id}/sign-ins",
                    {"mfa_enrolled": self.rng.random() < 0.8},
                    roles=("service",),
                    subject="identity-system",
                )
            elif user.target == "locked":
                await self.api.post(
                    "onboarding",
                    f"/v1/users/{user.id}/lock",
                    {"reason": "failed_logins"},
                    roles=("service",),
                    subject="identity-system",
                )
            elif user.target == "deactivated":
                await self.api.post(
                    "onboarding",
                    f"/v1/users/{user.id}/deactivate",
                    {"reason": "left the company"},
                    roles=("onboarding",),
                    subject="demo-onboarding-specialist",
                )
            user.final_status = user.target

        await gather_limited([u for t in self.tenants for u in t.users], settle)

        async def finish_onboarding(tenant: SeedTenant) -> None:
            if tenant.profile.collection_method == "send_invoice":
                await self.api.post(
                    "onboarding",
                    f"/v1/tenants/{tenant.id}/onboarding/net-terms",
                    roles=("onboarding",),
                    subject="demo-onboarding-specialist",
                )
            if tenant.admin.target == "active":
                template = (
                    "welcome_invoice_v1"
                    if tenant.profile.collection_method == "send_invoice"
                    else "welcome_v1"
                )
                await self.api.post(
                    "onboarding",
                    f"/v1/tenants/{tenant.id}/onboarding/welcome",
                    {"template": template},
                    roles=("onboarding",),
                    subject="demo-onboarding-specialist",
                    idempotency_key=self.key("welcome", tenant.index),
                )

        await gather_limited(self.tenants, finish_onboarding)
        counts = Counter(u.final_status for t in self.tenants for u in t.users)
        self.log(
            f"{sum(counts.values())} users: " + ", ".join(f"{n} {s}" for s, n in counts.items())
        )

    # -- 3. Stripe's side: subscriptions, invoices, renewals -------------------------------

    async def billing(self) -> None:
        async def synced(tenant: SeedTenant) -> None:
            async def check() -> dict[str, Any] | None:
                page = await self.api.get(
                    "billing",
                    "/v1/subscriptions",
                    params={"tenant_id": tenant.id},
                    roles=("billing",),
                )
                items = page["items"]
                if items and items[0]["sync_state"] == "synced":
                    found: dict[str, Any] = items[0]
                    return found
                return None

            tenant.subscription = await eventually(
                check,
                what=f"the Stripe subscription of {tenant.company}",
                timeout=self.config.wait_timeout,
            )

        await gather_limited(self.tenants, synced)
        self.log("subscriptions created on Stripe (stripe-mock)")
        expected: dict[str, tuple[str, datetime]] = {}
        for tenant in self.tenants:
            expected[tenant.id] = await self.stripe_story(tenant)

        async def applied(tenant: SeedTenant) -> None:
            status, period_end = expected[tenant.id]

            async def check() -> dict[str, Any] | None:
                sub: dict[str, Any] = await self.api.get(
                    "billing", f"/v1/subscriptions/{tenant.subscription['id']}", roles=("billing",)
                )
                end = sub.get("current_period_end")
                if (
                    sub["status"] == status
                    and end
                    and abs(datetime.fromisoformat(end).timestamp() - period_end.timestamp()) < 2
                ):
                    return sub
                return None

            tenant.subscription = await eventually(
                check,
                what=f"the webhooks of {tenant.company} to be processed",
                timeout=self.config.wait_timeout,
            )

        await gather_limited(self.tenants, applied)
        for tenant in self.tenants:
            if tenant.profile.name == "canceling":
                tenant.subscription = await self.api.post(
                    "billing",
                    f"/v1/subscriptions/{tenant.subscription['id']}/cancel",
                    {"at_period_end": True, "reason": "moving to an in-house tool"},
                    roles=("billing",),
                    if_match=f'"{tenant.subscription["version"]}"',
                )
        scan: dict[str, Any] = await self.api.post("billing", "/v1/renewals/scan", roles=("admin",))
        self.scan = scan
        self.log(
            f"Stripe webhooks delivered; renewal scan: {scan['upcoming']} upcoming, "
            f"{scan['invoiced']} invoiced, {scan['at_risk']} at risk, {scan['overdue']} overdue"
        )

    def _subscription_object(
        self, tenant: SeedTenant, *, status: str, start: datetime, end: datetime
    ) -> dict[str, Any]:
        sub = tenant.subscription
        obj: dict[str, Any] = {
            "id": sub["stripe_subscription_id"],
            "object": "subscription",
            "customer": sub["stripe_customer_id"],
            "status": status,
            "collection_method": sub["collection_method"],
            "cancel_at_period_end": False,
            "canceled_at": None,
            "ended_at": None,
            "created": ts(start),
            "items": {
                "object": "list",
                "data": [
                    {
                        "id": f"si_{self.run}{tenant.index:04d}",
                        "object": "subscription_item",
                        "price": {
                            "id": self.plans[tenant.tier].get("stripe_price_id"),
                            "object": "price",
                        },
                        "quantity": tenant.seats,
                        "current_period_start": ts(start),
                        "current_period_end": ts(end),
                    }
                ],
            },
            "metadata": {"subscription_id": sub["id"], "tenant_id": tenant.id},
        }
        if status == "trialing":
            obj["trial_start"], obj["trial_end"] = ts(start), ts(end)
        return obj

    def _invoice_object(
        self,
        tenant: SeedTenant,
        *,
        number: int,
        status: str,
        period: tuple[datetime, datetime],
        billing_reason: str,
        amount_paid: int = 0,
        attempt_count: int = 0,
        due_date: datetime | None = None,
        next_payment_attempt: datetime | None = None,
        failed: bool = False,
    ) -> dict[str, Any]:
        sub = tenant.subscription
        amount = int(sub["recurring_amount"])
        invoice_id = f"in_{self.run}{tenant.index:03d}{number:03d}"
        obj: dict[str, Any] = {
            "id": invoice_id,
            "object": "invoice",
            "customer": sub["stripe_customer_id"],
            "customer_email": f"billing@{tenant.domain}",
            "parent": {
                "type": "subscription_details",
                "subscription_details": {"subscription": sub["stripe_subscription_id"]},
            },
            "status": status,
            "number": f"{self.run.upper()}{tenant.index:02d}-{number:04d}",
            "collection_method": sub["collection_method"],
            "currency": sub.get("currency") or "usd",
            "amount_due": amount,
            "amount_paid": amount_paid,
            "amount_remaining": amount - amount_paid,
            "attempt_count": attempt_count,
            "billing_reason": billing_reason,
            "period_start": ts(period[0]),
            "period_end": ts(period[1]),
            "due_date": ts(due_date) if due_date else None,
            "next_payment_attempt": ts(next_payment_attempt) if next_payment_attempt else None,
            "hosted_invoice_url": f"https://invoice.stripe.com/i/{invoice_id}",
            "status_transitions": {
                "finalized_at": ts(period[1]),
                "paid_at": ts(self.now) if status == "paid" else None,
            },
        }
        if failed:
            obj["last_finalization_error"] = {
                "code": "card_declined",
                "message": "Your card was declined.",
            }
        return obj

    async def _send(self, event_type: str, obj: dict[str, Any]) -> None:
        await self.api.stripe_webhook(
            stripe_event(event_type, dict(obj), created=self.created()), secret=self.secret
        )

    async def stripe_story(self, tenant: SeedTenant) -> tuple[str, datetime]:
        """Deliver the webhooks Stripe would have sent for this tenant's story; returns the
        subscription status and period end billing should end up with."""
        now, name = self.now, tenant.profile.name
        month_end = end_of_month(now)
        latest_end = add_months(now, 1) - timedelta(hours=1)

        def this_month() -> datetime:
            room = (month_end - now).total_seconds() - 3600
            if room < 86400:
                return now + timedelta(days=2)
            return now + timedelta(seconds=self.rng.uniform(86400, room))

        def next_month() -> datetime:
            end = month_end + timedelta(days=self.rng.randint(1, 12))
            return min(end, latest_end)

        status = "active"
        failed_renewal = name in {"payment_failed", "payment_recovered", "suspended"}
        if name in {"renewal_this_month", "net_terms"}:
            end = this_month()
        elif name == "net_terms_renewal_due":
            end = now - timedelta(days=1)
        elif name == "automation_missed":
            end = now - timedelta(days=2)
        elif failed_renewal:
            end = add_months(now - timedelta(days=3), 1)
        elif name == "canceling":
            end = min(now + timedelta(days=9), latest_end)
        elif name == "trialing":
            status, end = "trialing", now + timedelta(days=12)
        elif name == "overdue":
            end = add_months(now - timedelta(days=26), 1)
        else:
            end = next_month()
        end = end.replace(microsecond=0)
        start = add_months(end, -1) if status != "trialing" else end - timedelta(days=14)
        await self._send(
            "customer.subscription.updated",
            self._subscription_object(tenant, status=status, start=start, end=end),
        )
        if status == "trialing":
            return status, end
        amount = int(tenant.subscription["recurring_amount"])
        first_period = (
            (add_months(start, -1), add_months(start, -1))
            if failed_renewal
            else (
                start,
                start,
            )
        )
        if tenant.profile.collection_method == "charge_automatically":
            first = self._invoice_object(
                tenant,
                number=1,
                status="open",
                period=first_period,
                billing_reason="subscription_create",
            )
            await self._send("invoice.finalized", first)
            await self._send(
                "invoice.paid",
                {**first, "status": "paid", "amount_paid": amount, "amount_remaining": 0},
            )
        else:
            due = start + timedelta(days=tenant.days_until_due or 30)
            first = self._invoice_object(
                tenant,
                number=1,
                status="open",
                period=first_period,
                billing_reason="subscription_create",
                due_date=due,
            )
            await self._send("invoice.finalized", first)
            await self._send("invoice.sent", first)
            if name == "net_terms_renewal_due":
                await self._send(
                    "invoice.paid",
                    {**first, "status": "paid", "amount_paid": amount, "amount_remaining": 0},
                )
            if name == "overdue":
                await self._send("invoice.overdue", first)
        if failed_renewal:
            attempts = {"payment_failed": 2, "payment_recovered": 1, "suspended": 4}[name]
            renewal = self._invoice_object(
                tenant,
                number=2,
                status="open",
                period=(add_months(start, -1), start),
                billing_reason="subscription_cycle",
                attempt_count=attempts,
                next_payment_attempt=None if attempts >= 4 else now + timedelta(days=3),
                failed=True,
            )
            await self._send("invoice.finalized", {**renewal, "attempt_count": 0})
            await self._send("invoice.payment_failed", renewal)
            status = "past_due"
            await self._send(
                "customer.subscription.updated",
                self._subscription_object(tenant, status=status, start=start, end=end),
            )
            if name == "payment_recovered":
                await self._send(
                    "invoice.paid",
                    {**renewal, "status": "paid", "amount_paid": amount, "amount_remaining": 0},
                )
                status = "active"
                await self._send(
                    "customer.subscription.updated",
                    self._subscription_object(tenant, status=status, start=start, end=end),
                )
        return status, end

    # -- 4. tickets ---------------------------------------------------------------------

    def plan_tickets(self) -> None:
        kinds = [kind for kind, _ in data.TICKET_MIX]
        counts = allocate(
            self.config.tickets,
            [w for _, w in data.TICKET_MIX],
            minimum=[2] + [1] * (len(kinds) - 1),
        )
        weights = [len(t.users) + 2 for t in self.tenants]
        bug_count = counts[0]
        escalated = bug_count if bug_count <= 3 else round(bug_count * 0.5)
        groups = min(len(data.BUG_GROUPS), max(1, escalated // 2))
        plan: list[tuple[tuple[str, str | None], int | None]] = []
        for kind, count in zip(kinds, counts, strict=True):
            for i in range(count):
                group = i % groups if kind[0] == "potential_bug" and i < escalated else None
                plan.append((kind, group))
        for n, ((category, subcategory), group) in enumerate(plan):
            tenant = (
                self.tenants[n % len(self.tenants)]
                if n < len(self.tenants)
                else (self.rng.choices(self.tenants, weights=weights)[0])
            )
            requester = self._requester(tenant, subcategory)
            fills = {
                "feature": self.rng.choice(data.FEATURES),
                "n": str(self.rng.randint(2, 40)),
                "first": requester.name.split()[0],
                "company": tenant.company,
            }
            if group is not None:
                bug = data.BUG_GROUPS[group]
                title = bug.titles[(n // groups) % len(bug.titles)]
                subject = title
                body = (
                    f"Hi, I think we found a bug: {bug.actual.lower()}.\n\n"
                    + "What I did:\n"
                    + "\n".join(f"{i + 1}. {step}" for i, step in enumerate(bug.steps))
                    + f"\n\nWhat I expected: {bug.expected.lower()}.\n\n{fills['first']}, "
                    + tenant.company
                )
            else:
                title = None
                subject_t, body_t = self.rng.choice(data.TEXTS[(category, subcategory)])
                subject, body = subject_t.format(**fills), body_t.format(**fills)
                subject = subject[:1].upper() + subject[1:]
            if category == "access" and subcategory in ACCESS_ACTION_FOR:
                # a verified channel (the sender's mail, the portal token's subject): the
                # access-action gate accepts only requesters it can identify
                channel = self.rng.choice(["email", "web", "email"])
            else:
                channel = weighted(self.rng, data.CHANNEL_MIX)
            fate = "escalated" if group is not None else weighted(self.rng, TICKET_FATES)
            self.tickets.append(
                SeedTicket(
                    tenant=tenant,
                    category=category,
                    subcategory=subcategory,
                    channel=channel,
                    subject=subject,
                    body=body,
                    requester=requester,
                    fate=fate,
                    bug_group=group,
                    bug_title=title,
                )
            )

    def _requester(self, tenant: SeedTenant, subcategory: str | None) -> SeedUser:
        fitting = {"login": "locked", "inactive": "deactivated", "activation": "invited"}
        wanted = fitting.get(subcategory or "", "active")
        candidates = tenant.users_with(wanted) or tenant.users_with("active") or tenant.users
        return self.rng.choice(candidates)

    async def create_tickets(self) -> None:
        async def create(pair: tuple[int, SeedTicket]) -> None:
            n, ticket = pair
            requester = {
                "email": ticket.requester.email,
                "name": ticket.requester.name,
                "user_id": ticket.requester.id or None,
            }
            if ticket.channel == "email":
                created = await self.api.post(
                    "ticket",
                    "/v1/inbound-email",
                    {
                        "message_id": f"<{self.run}.{n}@mail.{ticket.tenant.domain}>",
                        "from": {"email": ticket.requester.email, "name": ticket.requester.name},
                        "subject": ticket.subject,
                        "text": ticket.body,
                        "tenant_id": ticket.tenant.id,
                    },
                    roles=("service",),
                    subject="mail-gateway",
                )
                ticket.id = created["ticket_id"]
            elif ticket.channel == "web":  # the customer portal: a tenant-scoped token
                created = await self.api.post(
                    "ticket",
                    "/v1/tickets",
                    {
                        "tenant_id": ticket.tenant.id,
                        "requester": requester,
                        "channel": "web",
                        "subject": ticket.subject,
                        "body": ticket.body,
                    },
                    roles=("agent",),
                    tenant_id=ticket.tenant.id,
                    subject=ticket.requester.email,
                    idempotency_key=self.key("ticket", n),
                )
                ticket.id = created["id"]
            else:
                created = await self.api.post(
                    "ticket",
                    "/v1/tickets",
                    {
                        "tenant_id": ticket.tenant.id,
                        "requester": requester,
                        "channel": ticket.channel,
                        "subject": ticket.subject,
                        "body": ticket.body,
                    },
                    roles=("agent",) if ticket.channel == "phone" else ("service",),
                    subject="agent-eli"
                    if ticket.channel == "phone"
                    else f"{ticket.channel}-intake",
                    idempotency_key=self.key("ticket", n),
                )
                ticket.id = created["id"]

        await gather_limited(list(enumerate(self.tickets)), create)
        self.log(f"{len(self.tickets)} tickets created and triaged")

    async def _ticket(self, ticket: SeedTicket) -> dict[str, Any]:
        found: dict[str, Any] = await self.api.get(
            "ticket", f"/v1/tickets/{ticket.id}", roles=("agent",), subject="agent-ava"
        )
        return found

    async def _patch(self, ticket: SeedTicket, body: dict[str, Any], agent: str) -> None:
        for _ in range(5):
            current = await self.api.call(
                "GET", "ticket", f"/v1/tickets/{ticket.id}", roles=("agent",), subject=agent
            )
            try:
                await self.api.call(
                    "PATCH",
                    "ticket",
                    f"/v1/tickets/{ticket.id}",
                    json_body=body,
                    roles=("agent",),
                    subject=agent,
                    if_match=current.headers["ETag"],
                )
                return
            except ApiError as exc:
                if exc.status != 412:  # someone (an event) changed it meanwhile: read again
                    raise
        raise RuntimeError(f"ticket {ticket.id} kept changing; could not update it")

    async def work_tickets(self) -> None:
        async def work(ticket: SeedTicket) -> None:
            detail = await self._ticket(ticket)
            ticket.triaged_category = detail["category"]
            ticket.triaged_subcategory = detail["subcategory"]
            agent = detail.get("assignee_id") or "agent-ava"
            planned = (ticket.category, ticket.subcategory)
            if (detail["category"], detail["subcategory"]) != planned:
                # the agent corrects the classifier (or settles a triage_review ticket):
                # the correction becomes a labelled example for the next refit
                await self._patch(
                    ticket,
                    {
                        "category": ticket.category,
                        "subcategory": ticket.subcategory,
                        "reason": "re-triaged by the agent",
                    },
                    agent,
                )
            fate = ticket.fate
            if fate in {"new", "escalated"}:
                return
            if fate == "template_reply" and ticket.category in TEMPLATE_FOR:
                key, variables = TEMPLATE_FOR[ticket.category]
                await self.api.post(
                    "ticket",
                    f"/v1/tickets/{ticket.id}/template-replies",
                    {"template_key": key, "variables": variables(self.rng)},
                    roles=("agent",),
                    subject=agent,
                    idempotency_key=self.key("template-reply", ticket.id),
                )
            else:
                await self.api.post(
                    "ticket",
                    f"/v1/tickets/{ticket.id}/messages",
                    {"kind": "reply", "body": self._agent_reply(ticket)},
                    roles=("agent",),
                    subject=agent,
                    idempotency_key=self.key("reply", ticket.id),
                )
            if fate in {"replied", "template_reply"}:
                if self.rng.random() < 0.3:
                    await self.api.post(
                        "ticket",
                        f"/v1/tickets/{ticket.id}/messages",
                        {"kind": "note", "body": "Checked the account context; nothing unusual."},
                        roles=("agent",),
                        subject=agent,
                    )
                return
            if fate == "pending":
                await self._patch(ticket, {"status": "pending"}, agent)
            elif fate == "on_hold":
                await self._patch(
                    ticket, {"status": "on_hold", "reason": "waiting for the product team"}, agent
                )
            elif fate == "customer_followup":
                await self._patch(ticket, {"status": "pending"}, agent)
                await self.api.post(
                    "ticket",
                    f"/v1/tickets/{ticket.id}/messages",
                    {"kind": "reply", "body": "Thanks! One more question about this, though."},
                    roles=("agent",),
                    tenant_id=ticket.tenant.id,
                    subject=ticket.requester.email,
                )
            elif fate in {"solved", "solved_csat"}:
                await self._patch(ticket, {"status": "solved"}, agent)
                if fate == "solved_csat":
                    survey = await self.api.get(
                        "ticket",
                        f"/v1/tickets/{ticket.id}/csat-survey",
                        roles=("agent",),
                        tenant_id=ticket.tenant.id,
                        subject=ticket.requester.email,
                    )
                    rating = weighted(self.rng, CSAT_RATINGS)
                    await self.api.post(
                        "ticket",
                        "/v1/csat-responses",
                        {
                            "token": survey["token"],
                            "rating": rating,
                            "comment": self.rng.choice(CSAT_COMMENTS),
                        },
                        roles=("agent",),
                        tenant_id=ticket.tenant.id,
                        subject=ticket.requester.email,
                    )
                    self.csat.append(rating)

        await gather_limited(self.tickets, work)
        fates = Counter(t.fate for t in self.tickets)
        self.log("tickets worked: " + ", ".join(f"{n} {f}" for f, n in sorted(fates.items())))

    def _agent_reply(self, ticket: SeedTicket) -> str:
        first = ticket.requester.name.split()[0]
        return self.rng.choice(
            [
                f"Hi {first}, thanks for reaching out. I am looking into this now.",
                f"Hello {first}, thank you for the details. Could you tell me since when "
                "this happens?",
                f"Hi {first}, I have checked your account and will update you shortly.",
            ]
        )

    # -- 5. access actions through the verification gate --------------------------------

    async def access_actions(self) -> None:
        wanted = [
            t
            for t in self.tickets
            if t.category == "access"
            and t.subcategory in ACCESS_ACTION_FOR
            and t.fate == "new"
            and t.tenant.profile.name != "suspended"
            and t.requester.final_status == ACCESS_ACTION_FOR[t.subcategory][1]
        ]
        chosen: list[SeedTicket] = []
        seen_users: set[str] = set()
        for ticket in wanted:
            if ticket.requester.id not in seen_users and len(chosen) < max(
                1, len(self.tickets) // 40
            ):
                chosen.append(ticket)
                seen_users.add(ticket.requester.id)

        async def request(ticket: SeedTicket) -> None:
            assert ticket.subcategory is not None
            action, fits, after = ACCESS_ACTION_FOR[ticket.subcategory]

            async def known() -> bool | None:
                account = await self.api.get(
                    "ticket", f"/v1/accounts/{ticket.tenant.id}", roles=("agent",)
                )
                for user in account["users"]:
                    if user["user_id"] == ticket.requester.id and user["status"] == fits:
                        return True
                return None

            await eventually(
                known,
                what=f"the account context of {ticket.tenant.company} to know its users",
                timeout=self.config.wait_timeout,
            )
            await self.api.post(
                "ticket",
                f"/v1/tickets/{ticket.id}/access-actions",
                {
                    "action": action,
                    "user_id": ticket.requester.id,
                    "reason": "identity verified by a call-back to the number on file",
                },
                roles=("agent",),
                subject="agent-eli",
                idempotency_key=self.key("access", ticket.id),
            )
            ticket.access_action = action
            ticket.requester.final_status = after
            self.access_done.append((ticket.id, action))

        await gather_limited(chosen, request)
        if chosen:
            actions = plural(len(chosen), "access action")
            self.log(f"{actions} requested through the verification gate")

    # -- 6. bugs: escalations from tickets, duplicates, QA -------------------------------

    async def _bug_of(self, ticket: SeedTicket) -> dict[str, Any] | None:
        page = await self.api.get(
            "escalation", "/v1/bugs", params={"ticket_id": ticket.id}, roles=("qa",)
        )
        items: list[dict[str, Any]] = page["items"]
        return items[0] if items else None

    async def escalate_bugs(self) -> None:
        escalated = [t for t in self.tickets if t.bug_group is not None]
        groups = sorted({t.bug_group for t in escalated if t.bug_group is not None})

        async def escalate(ticket: SeedTicket) -> None:
            assert ticket.bug_group is not None
            bug = data.BUG_GROUPS[ticket.bug_group]
            env = dict(bug.environment)
            await self.api.post(
                "ticket",
                f"/v1/tickets/{ticket.id}/escalations",
                {
                    "title": ticket.bug_title,
                    "steps": bug.steps,
                    "expected": bug.expected,
                    "actual": bug.actual,
                    "environment": {
                        "app_version": env.get("app_version"),
                        "browser": env.get("browser"),
                        "os": env.get("os"),
                    },
                    "severity": bug.severity,
                },
                roles=("agent",),
                subject="agent-ben",
                idempotency_key=self.key("escalate", ticket.id),
            )

        async def filed(ticket: SeedTicket) -> dict[str, Any]:
            return await eventually(
                lambda: self._bug_of(ticket),
                what=f"the bug filed from ticket {ticket.id}",
                timeout=self.config.wait_timeout,
            )

        # the first report of each bug is filed before its duplicates arrive
        firsts = [next(t for t in escalated if t.bug_group == g) for g in groups]
        await gather_limited(firsts, escalate)
        bugs = await gather_limited(firsts, filed)
        self.bugs = {g: b for g, b in zip(groups, bugs, strict=True)}
        first_ids = {t.id for t in firsts}
        rest = [t for t in escalated if t.id not in first_ids]
        await gather_limited(rest, escalate)
        await gather_limited(rest, filed)
        self.log(f"{len(escalated)} tickets escalated to QA as {plural(len(groups), 'bug')}")

    async def qa(self) -> None:
        async def drive(group: int) -> None:
            spec = data.BUG_GROUPS[group]
            bug_id = self.bugs[group]["id"]
            bug: dict[str, Any] = await self.api.get(
                "escalation", f"/v1/bugs/{bug_id}", roles=("qa",)
            )

            async def move(to: str, **extra: Any) -> None:
                nonlocal bug
                await self.api.post(
                    "escalation",
                    f"/v1/bugs/{bug_id}/transitions",
                    {"to": to, **extra},
                    roles=("qa",),
                    subject="qa-quinn",
                )
                bug = await self.api.get("escalation", f"/v1/bugs/{bug_id}", roles=("qa",))

            async def reproduce(outcome: str) -> None:
                await self.api.post(
                    "escalation",
                    f"/v1/bugs/{bug_id}/reproductions",
                    {
                        "environment": {
                            "app_version": spec.environment.get("app_version"),
                            "browser": spec.environment.get("browser"),
                            "os": spec.environment.get("os"),
                        },
                        "steps_followed": spec.steps,
                        "outcome": outcome,
                        "evidence": [
                            {
                                "kind": "log_excerpt",
                                "name": "console",
                                "content": spec.actual,
                            }
                        ],
                    },
                    roles=("qa",),
                    subject="qa-quinn",
                    idempotency_key=self.key("repro", bug_id, outcome),
                )

            target = spec.target
            if bug["status"] not in {"reported", "reopened"} or target == "reported":
                return  # a bug an earlier run already took further stays where it is
            if target == "needs_info":
                await move("needs_info", question="Which browser language is set when it happens?")
                return
            await move("reproducing", note="picked up by QA")
            if target == "cannot_reproduce":
                await reproduce("not_reproduced")
                await move("cannot_reproduce", note="not reproducible on a clean install")
                return
            await reproduce("reproduced")
            await move("reproduced", note="reproduced on the reported version")
            if target == "reproduced":
                return
            await move("escalated", escalated_to="engineering", note="ready for engineering")
            if target == "escalated":
                return
            await move("in_progress", note="engineering is on it")
            await move("fixed", fixed_in_version=spec.fixed_in_version, note="fix deployed")

        await gather_limited(sorted(self.bugs), drive)
        self.log("QA worked the bugs (reproduced, escalated, fixed …)")

    # -- 7. wait for the events to settle, and read back what the APIs say ----------------

    async def settle(self, report: DemoReport) -> None:
        report.csat_ratings = list(self.csat)
        report.access_actions = list(self.access_done)
        report.scan = dict(self.scan)
        timeout = self.config.wait_timeout

        async def followups_of(tenant: SeedTenant) -> None:
            async def check() -> list[dict[str, Any]] | None:
                items = await self.api.all_pages(
                    "ticket",
                    "/v1/tickets",
                    params={"tenant_id": tenant.id, "tag": "billing_followup"},
                    roles=("agent",),
                )
                if tenant.profile.name in FOLLOWUP_PROFILES and not items:
                    return None
                if tenant.profile.name == "payment_recovered" and not any(
                    i["status"] == "solved" for i in items
                ):
                    return None
                return items

            report.followups[tenant.id] = await eventually(
                check, what=f"the billing follow-ups of {tenant.company}", timeout=timeout
            )

        await gather_limited(report.tenants, followups_of)
        fixed = [g for g in self.bugs if data.BUG_GROUPS[g].target == "fixed"]
        for group in fixed:
            linked = [t for t in report.tickets if t.bug_group == group]

            async def all_solved(linked: list[SeedTicket] = linked) -> bool | None:
                for ticket in linked:
                    detail = await self._ticket(ticket)
                    if detail["status"] not in {"solved", "closed"}:
                        return None
                return True

            try:
                await eventually(
                    all_solved, what="the fixed bug's tickets to be solved", timeout=timeout
                )
            except TimeoutError:
                self.log("note: the fixed bug's tickets are not all solved yet (events pending)")
        for group, bug in list(self.bugs.items()):
            self.bugs[group] = await self.api.get(
                "escalation", f"/v1/bugs/{bug['id']}", roles=("qa",)
            )
        report.bugs = dict(self.bugs)
        ids = {t.id for t in report.tenants}
        report.renewals = [
            r
            for r in await self.api.all_pages("billing", "/v1/renewals", roles=("billing",))
            if r["tenant_id"] in ids
        ]

        async def access_done() -> bool | None:
            for tenant in report.tenants:
                for user in tenant.users:
                    if user.final_status != user.target:
                        current = await self.api.get(
                            "onboarding", f"/v1/users/{user.id}", roles=("onboarding",)
                        )
                        if current["status"] != user.final_status:
                            return None
            return True

        try:
            await eventually(access_done, what="the access actions to complete", timeout=timeout)
        except TimeoutError:
            self.log("note: some access actions are still being carried out")


async def seed(api: Api, config: DemoConfig, log: Log | None = None) -> DemoReport:
    """Seed one dataset through ``api``; returns what was created."""
    return await Seeder(api, config, log or (lambda _: None)).run_all()


# --- what to look at ---------------------------------------------------------------------


def summary(report: DemoReport, tokens: Tokens) -> str:
    s = report.services
    admin = tokens.mint("admin", subject="demo-admin")
    showcase = report.tenant("payment_failed") or report.tenants[0]
    tenant_token = tokens.mint("agent", tenant_id=showcase.id, subject=showcase.admin.email)
    users = report.user_counts()
    categories = Counter(t.triaged_category or t.category for t in report.tickets)
    channels = Counter(t.channel for t in report.tickets)
    followups = [f for items in report.followups.values() for f in items]
    plans = Counter(t.tier for t in report.tenants)
    methods = Counter(t.profile.collection_method for t in report.tenants)
    renewal_states = Counter(r["state"] for r in report.renewals)
    month_end = end_of_month(datetime.now(UTC))
    due_this_month = [
        r for r in report.renewals if datetime.fromisoformat(r["period_start"]) < month_end
    ]
    duplicated = [b for b in report.bugs.values() if len(b.get("linked_tickets", [])) > 1]
    escalated = sum(1 for t in report.tickets if t.bug_group is not None)
    lines = [
        "",
        f"supportops demo data — run {report.run_id} "
        f"({report.seconds:.0f} s, {report.requests} requests)",
        "",
        f"  tenants   {len(report.tenants)}: "
        + ", ".join(f"{n} {tier}" for tier, n in sorted(plans.items()))
        + f"; {methods['charge_automatically']} card, {methods['send_invoice']} net terms",
        f"  users     {sum(users.values())}: "
        + ", ".join(f"{n} {status}" for status, n in sorted(users.items())),
        f"  tickets   {len(report.tickets)} from customers + {len(followups)} billing "
        "follow-ups opened by the system",
        "            " + ", ".join(f"{n} {c}" for c, n in sorted(categories.items())),
        "            channels: " + ", ".join(f"{n} {c}" for c, n in sorted(channels.items())),
        f"  CSAT      {len(report.csat_ratings)} ratings"
        + (
            f", average {sum(report.csat_ratings) / len(report.csat_ratings):.2f}"
            if report.csat_ratings
            else ""
        ),
        f"  renewals  {len(report.renewals)} tracked ("
        + ", ".join(f"{n} {st}" for st, n in sorted(renewal_states.items()))
        + f"), {len(due_this_month)} due before {month_end:%Y-%m-%d}",
        f"  bugs      {len(report.bugs)} filed from {escalated} escalated tickets, "
        f"{len(duplicated)} with duplicates linked",
        "",
        "API docs (Swagger UI) and OpenAPI documents:",
    ]
    for name, url in s.items():
        lines.append(f"  {name + '-service':20} {url}/docs    {url}/openapi.json")
    lines += [
        "",
        "Tokens (valid 12 h; mint more with `make token ROLE=agent [TENANT=<id>]`):",
        f"  export ADMIN_TOKEN={admin}",
        f"  export TENANT_TOKEN={tenant_token}",
        f"  # TENANT_TOKEN is {showcase.company}'s customer portal (tenant {showcase.id})",
        "",
        "Try:",
    ]

    def curl(token: str, url: str, note: str) -> None:
        lines.append(f"  # {note}")
        lines.append(f'  curl -s -H "Authorization: Bearer ${token}" "{url}"')

    curl(
        "ADMIN_TOKEN", f"{s.onboarding}/v1/tenants?q={report.run_id}&limit=50", "this run's tenants"
    )
    curl("ADMIN_TOKEN", f"{s.ticket}/v1/tickets?queue=billing&limit=20", "the billing queue")
    sample = next(
        (t for t in report.tickets if t.fate == "solved_csat"),
        report.tickets[0],
    )
    curl(
        "ADMIN_TOKEN",
        f"{s.ticket}/v1/tickets/{sample.id}",
        f"a ticket with triage, timeline, SLA and account context ({sample.subject})",
    )
    curl(
        "ADMIN_TOKEN",
        f"{s.ticket}/v1/accounts/{showcase.id}",
        f"{showcase.company}: verified account context",
    )
    curl("ADMIN_TOKEN", f"{s.billing}/v1/invoices?tenant_id={showcase.id}", "its invoices")
    curl("ADMIN_TOKEN", f"{s.billing}/v1/renewals?state=upcoming&limit=50", "upcoming renewals")
    curl(
        "ADMIN_TOKEN",
        f"{s.onboarding}/v1/tenants/{showcase.id}/onboarding",
        "its onboarding checklist",
    )
    curl("TENANT_TOKEN", f"{s.ticket}/v1/tickets", "the same tenant seen from its customer portal")
    if duplicated:
        bug = duplicated[0]
        curl(
            "ADMIN_TOKEN",
            f"{s.escalation}/v1/bugs/{bug['id']}",
            f"bug {bug['key']} ({bug['status']}) with {len(bug['linked_tickets'])} linked tickets",
        )
    curl("ADMIN_TOKEN", f"{s.ticket}/v1/metrics", "support KPIs by queue (CSAT, first response …)")
    jaeger = os.environ.get("SUPPORTOPS_JAEGER_URL") or (
        f"http://127.0.0.1:{os.environ.get('SUPPORTOPS_JAEGER_UI_PORT', '16686')}"
    )
    zipkin = os.environ.get("SUPPORTOPS_ZIPKIN_URL") or (
        f"http://127.0.0.1:{os.environ.get('SUPPORTOPS_ZIPKIN_PORT', '9411')}"
    )
    lines += [
        "",
        f"The trace of {showcase.company}'s journey (tenant created -> billing -> onboarding):",
        f"  {zipkin}/zipkin/traces/{showcase.trace_id}   (Zipkin's UI, fed from Jaeger)",
        f"  {jaeger}/api/traces/{showcase.trace_id}   (Jaeger's API: the same as JSON)",
    ]
    if os.environ.get("SUPPORTOPS_JAEGER_UI_ASSETS"):  # a jaeger-ui build is served
        lines.append(f"  {jaeger}/trace/{showcase.trace_id}   (Jaeger's UI)")
    mailpit = os.environ.get("SUPPORTOPS_MAILPIT_URL") or (
        f"http://127.0.0.1:{os.environ.get('SUPPORTOPS_MAILPIT_UI_PORT', '8025')}"
    )
    lines += [
        "",
        "The mail the customers received (replies, surveys, invitations, welcome messages):",
        f"  {mailpit}   (Mailpit; its API: {mailpit}/api/v1/messages)",
    ]
    lines += ["", "Interesting ids:"]
    for tenant in report.tenants:
        if (
            tenant.profile.name in {"healthy", "renewal_this_month", "net_terms"}
            and tenant.index > 3
        ):
            continue
        extra = ""
        tickets = report.followups.get(tenant.id) or []
        if tickets:
            extra = "; follow-up ticket " + ", ".join(f"{f['id']} ({f['status']})" for f in tickets)
        lines.append(f"  {tenant.company:24} {tenant.id}  {tenant.profile.story}{extra}")
    for _, bug in sorted(report.bugs.items()):
        lines.append(
            f"  bug {bug['key']:<20} {bug['id']}  {bug['status']}, "
            f"{len(bug.get('linked_tickets', []))} linked tickets: {bug['title']}"
        )
    for ticket_id, action in report.access_actions[:5]:
        lines.append(f"  ticket {ticket_id}  access action {action} (see its timeline)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.demo",
        description="Seed a realistic dataset through the running services' APIs.",
    )
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--tickets", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    parser.add_argument("--run-id", help="letters/digits that make this run's data unique")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for events")
    args = parser.parse_args(argv)
    config = DemoConfig(
        tenants=args.tenants,
        users=args.users,
        tickets=args.tickets,
        wait_timeout=args.timeout,
        **({"run_id": args.run_id} if args.run_id else {}),
    )
    try:
        config.validate()
    except ValueError as exc:
        parser.error(str(exc))
    tokens = Tokens.from_settings()

    started = time.monotonic()

    def log(message: str) -> None:
        sys.stdout.write(f"[demo {time.monotonic() - started:5.1f}s] {message}\n")
        sys.stdout.flush()

    async def go() -> DemoReport:
        async with Api(Services.local(), tokens, concurrency=args.concurrency) as api:
            return await seed(api, config, log)

    try:
        report = asyncio.run(go())
    except ApiError as exc:
        sys.stderr.write(f"[demo] a request failed: {exc}\n")
        return 1
    except TimeoutError as exc:
        sys.stderr.write(f"[demo] {exc}; see `make logs`\n")
        return 1
    sys.stdout.write(summary(report, tokens) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
