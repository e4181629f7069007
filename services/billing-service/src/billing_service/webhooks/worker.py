"""The background worker of the lifespan: processes stored Stripe events and re-drives
intents that were recorded but never reached Stripe (a crash between our commit and
Stripe's answer). Crash-safe: everything it works on is a committed row, so a restart
simply picks up whatever is still unprocessed or pending."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from billing_service.models import StripeEvent
from billing_service.plans import service as plans
from billing_service.stripe_gateway import StripeGateway
from billing_service.subscriptions import intents as subscriptions
from billing_service.subscriptions import repository as subscription_repository
from billing_service.subscriptions.service import valid_period
from billing_service.webhooks import processor, repository
from billing_service.webhooks.metrics import (
    EVENTS_FAILED,
    EVENTS_PENDING,
    EVENTS_PENDING_AGE,
    EVENTS_PROCESSED,
    OBJECTS_REFETCHED,
)
from servicekit.clock import Clock
from servicekit.context import resume_context
from servicekit.db import Database

logger = logging.getLogger("billing_service.stripe_worker")

Processor = Callable[..., Awaitable[str]]
"""``processor.process``'s shape: (session, *, event, now, fetched) -> outcome."""

RETRY_BASE_SECONDS = 0.5
DEFER_LIMIT = timedelta(hours=1)


class StripeWorker:
    def __init__(
        self,
        *,
        db: Database,
        stripe: StripeGateway,
        clock: Clock,
        poll_seconds: float,
        process: Processor = processor.process,
    ) -> None:
        self.db = db
        self.process = process
        self.stripe = stripe
        self.clock = clock
        self.poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._plan_retries: dict[str, tuple[datetime, int]] = {}
        """Backoff of price deactivations Stripe failed (per process: a restart retries)."""

    def nudge(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="stripe-worker")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("stripe worker round failed")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
            self._wake.clear()

    async def run_once(self) -> int:
        """One round: re-drive pending subscriptions and archived plans whose Stripe price
        is still active, then process stored events."""
        async with self.db.unit_of_work() as session:
            pending = await subscriptions.pending_ids(session, now=self.clock.now())
            now = self.clock.now()
            archived = await plans.archived_with_active_price(
                session, archived_before=now - timedelta(minutes=1)
            )
        for plan_id in archived:
            retry_at, failures = self._plan_retries.get(plan_id, (now, 0))
            if retry_at > now:
                continue
            try:
                await plans.deactivate_price(db=self.db, stripe=self.stripe, plan_id=plan_id)
                self._plan_retries.pop(plan_id, None)
            except Exception:
                logger.exception("deactivating the Stripe price of plan %s failed", plan_id)
                backoff = timedelta(seconds=min(2**failures, 300))
                self._plan_retries[plan_id] = (now + backoff, failures + 1)
        for subscription_id in pending:
            try:
                await subscriptions.drive_pending(
                    db=self.db,
                    stripe=self.stripe,
                    subscription_id=subscription_id,
                    clock=self.clock,
                )
            except Exception:
                logger.exception("re-driving subscription %s failed", subscription_id)
        return await self.process_stored_events()

    async def process_stored_events(self) -> int:
        """Process unprocessed events in ``created`` order, one transaction each. Per
        Stripe object, order is kept: once an object's event fails (or waits, or another
        replica holds it), that object's later events wait for the next round, so a
        retry never finds a newer state applied before it."""
        now = self.clock.now()
        async with self.db.unit_of_work() as session:
            rows = await repository.unprocessed(session, limit=200)
            await _measure_pending(session)
        done = 0
        blocked: set[str] = set()
        for event_id, object_id, next_attempt_at in rows:
            key = object_id or event_id
            if key in blocked:
                continue
            if next_attempt_at is not None and next_attempt_at > now:
                blocked.add(key)  # backing off: its object's later events wait too
                continue
            if await self._process_one(event_id):
                done += 1
            else:
                blocked.add(key)
        if done:
            async with self.db.unit_of_work() as session:
                await _measure_pending(session)
        return done

    async def _process_one(self, event_id: str) -> bool:
        now = self.clock.now()
        fetched: dict[str, Any] | None = None
        event_type = "unknown"
        try:
            for _ in range(2):  # at most once more, with the object fetched from Stripe
                async with self.db.unit_of_work() as session:
                    row = await repository.claim_unprocessed(session, event_id)
                    if row is None:
                        return False  # another replica has it, or it is done
                    event_type = row.type
                    payload = row.payload
                    if fetched is not None:
                        payload = {**payload, "data": {**payload["data"], "object": fetched}}
                    with resume_context(row.origin_context, f"billing.stripe_event {row.type}"):
                        outcome = await self.process(
                            session, event=payload, now=now, fetched=fetched is not None
                        )
                    if outcome == "unmatched" and await _awaiting_intent(session, row):
                        row.last_error = "deferred: a subscription intent is still being created"
                        return False
                    if outcome != "refetch":
                        row.processed_at, row.outcome = now, outcome
                        row.attempts += 1
                        row.next_attempt_at = None
                        EVENTS_PROCESSED.labels(event_type=row.type, outcome=outcome).inc()
                        return True
                    object_id, object_kind = row.object_id, row.type.split(".")[0]
                    own = dict(row.payload["data"]["object"])
                # Outside any transaction: Stripe's current state settles the order.
                fetched = await self._fetch(object_kind, object_id)
                if object_kind == "customer" and valid_period(fetched, subscription_id=None)[2]:
                    # Stripe answered with data that cannot be true (stripe-mock's canned
                    # object does): not trusted; the arrival order settles this tie.
                    fetched = own
            raise RuntimeError("the order was not settled by the object fetched from Stripe")
        except Exception as exc:
            logger.exception("processing Stripe event %s failed", event_id)
            EVENTS_FAILED.labels(event_type=event_type).inc()
            async with self.db.unit_of_work() as session:
                row = await repository.get(session, event_id, lock=True)
                if row is not None and row.processed_at is None:
                    # Retried without limit (with backoff): giving up on it would let the
                    # object's later events overtake it. The pending age shows it.
                    row.attempts += 1
                    row.last_error = repr(exc)[:4000]
                    row.next_attempt_at = now + timedelta(
                        seconds=min(RETRY_BASE_SECONDS * 2 ** min(row.attempts - 1, 16), 300)
                    )
            return False

    async def _fetch(self, kind: str, object_id: str | None) -> dict[str, Any]:
        if not object_id:
            raise RuntimeError("the event names no object to fetch")
        if kind == "invoice":
            found = await self.stripe.retrieve_invoice(object_id)
            OBJECTS_REFETCHED.labels(object="invoice").inc()
            return found
        if kind == "customer":  # customer.subscription.*
            found = await self.stripe.retrieve_subscription(object_id)
            OBJECTS_REFETCHED.labels(object="subscription").inc()
            return found
        raise RuntimeError(f"cannot fetch a {kind} from Stripe")


async def _measure_pending(session: AsyncSession) -> None:
    count, oldest = await repository.pending_count_and_oldest(session)
    EVENTS_PENDING.set(count)
    age = (datetime.now(UTC) - oldest).total_seconds() if oldest is not None else 0.0
    EVENTS_PENDING_AGE.set(max(0.0, age))


async def _awaiting_intent(session: AsyncSession, row: StripeEvent) -> bool:
    """Stripe may send a new subscription's (or its first invoice's) events before we
    recorded the ids it answered with. While some intent is pending, an unmatched event
    waits (up to an hour after it arrived) instead of being dropped."""
    if row.received_at < datetime.now(UTC) - DEFER_LIMIT:
        return False
    return await subscription_repository.any_pending(session)


async def reconcile(
    *, db: Database, stripe: StripeGateway, worker: StripeWorker, since: datetime
) -> tuple[int, int]:
    """List recent events on Stripe, store the ones that never arrived as webhooks, and
    process everything still unprocessed. Returns (events listed, events stored)."""
    listed = await stripe.list_events(created_gte=int(since.timestamp()))
    stored = 0
    async with db.unit_of_work() as session:
        for event in listed:
            if not event.get("id") or not isinstance((event.get("data") or {}).get("object"), dict):
                continue
            stored += int(await repository.store(session, event=event, source="reconcile"))
    await worker.run_once()
    return len(listed), stored
