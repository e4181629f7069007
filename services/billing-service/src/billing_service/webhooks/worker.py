"""The background worker of the lifespan: processes stored Stripe events and re-drives
intents that were recorded but never reached Stripe (a crash between our commit and
Stripe's answer). Crash-safe: everything it works on is a committed row, so a restart
simply picks up whatever is still unprocessed or pending."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from billing_service.clock import Clock
from billing_service.models import StripeEvent, Subscription
from billing_service.plans import service as plans
from billing_service.stripe_gateway import StripeGateway
from billing_service.subscriptions import service as subscriptions
from billing_service.webhooks import processor
from servicekit.context import resume_context
from servicekit.db import Database

logger = logging.getLogger("billing_service.stripe_worker")

MAX_ATTEMPTS = 8
DEFER_LIMIT = timedelta(hours=1)


class StripeWorker:
    def __init__(
        self, *, db: Database, stripe: StripeGateway, clock: Clock, poll_seconds: float
    ) -> None:
        self.db = db
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
            pending = await subscriptions.pending_ids(session, now=self.clock())
            now = self.clock()
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
        async with self.db.unit_of_work() as session:
            ids = list(
                await session.scalars(
                    select(StripeEvent.id)
                    .where(StripeEvent.processed_at.is_(None))
                    .order_by(StripeEvent.created, StripeEvent.received_at)
                    .limit(200)
                )
            )
        done = 0
        for event_id in ids:
            if await self._process_one(event_id):
                done += 1
        return done

    async def _process_one(self, event_id: str) -> bool:
        now = self.clock()
        try:
            async with self.db.unit_of_work() as session:
                row = (
                    await session.scalars(
                        select(StripeEvent)
                        .where(StripeEvent.id == event_id, StripeEvent.processed_at.is_(None))
                        .with_for_update(skip_locked=True)
                    )
                ).first()
                if row is None:
                    return False  # another replica has it, or it is done
                with resume_context(row.origin_context, f"billing.stripe_event {row.type}"):
                    outcome = await processor.process(session, event=row.payload, now=now)
                if outcome == "unmatched" and await _awaiting_intent(session, row):
                    row.last_error = "deferred: a subscription intent is still being created"
                    return False
                row.processed_at, row.outcome = now, outcome
                row.attempts += 1
            return True
        except Exception as exc:
            logger.exception("processing Stripe event %s failed", event_id)
            async with self.db.unit_of_work() as session:
                await session.execute(
                    update(StripeEvent)
                    .where(StripeEvent.id == event_id)
                    .values(attempts=StripeEvent.attempts + 1, last_error=repr(exc)[:4000])
                )
                await session.execute(
                    update(StripeEvent)
                    .where(StripeEvent.id == event_id, StripeEvent.attempts >= MAX_ATTEMPTS)
                    .values(processed_at=now, outcome="failed")
                )
            return False


async def _awaiting_intent(session: AsyncSession, row: StripeEvent) -> bool:
    """Stripe may send a new subscription's (or its first invoice's) events before we
    recorded the ids it answered with. While some intent is pending, an unmatched event
    waits (up to an hour after it arrived) instead of being dropped."""
    if row.received_at < datetime.now(UTC) - DEFER_LIMIT:
        return False
    pending = await session.scalar(
        select(Subscription.id).where(Subscription.sync_state == "pending").limit(1)
    )
    return pending is not None


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
            result = await session.execute(
                insert(StripeEvent)
                .values(
                    id=str(event["id"]),
                    type=str(event.get("type")),
                    created=int(event.get("created") or 0),
                    payload=event,
                    source="reconcile",
                    attempts=0,
                )
                .on_conflict_do_nothing(index_elements=["id"])
                .returning(StripeEvent.id)
            )
            stored += 1 if result.first() is not None else 0
    await worker.run_once()
    return len(listed), stored
