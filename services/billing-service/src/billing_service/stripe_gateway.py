"""The one door to Stripe: a ``StripeClient`` whose answers come back as plain dicts.

Every write carries an idempotency key derived from our own record, so a retry (or the
reconciler re-driving an intent after a crash) never creates a second object.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated, Any

import stripe
from fastapi import Depends, Request

from servicekit.errors import ProblemError


class StripeUnavailable(ProblemError):
    status, code, title = 502, "stripe-error", "Stripe call failed"


class StripeRejected(ProblemError):
    """Stripe refused the request itself (e.g. an unknown charge): the caller's input."""

    status, code, title = 422, "stripe-rejected", "Stripe rejected the request"


def _json_safe(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _plain(obj: Any) -> dict[str, Any]:
    """A JSON-safe dict (Stripe's decimal fields become numbers or strings)."""
    data: dict[str, Any] = json.loads(json.dumps(obj.to_dict(), default=_json_safe))
    return data


class StripeGateway:
    def __init__(self, client: stripe.StripeClient) -> None:
        self.client = client

    @classmethod
    def build(cls, *, api_key: str, api_base: str | None, max_retries: int) -> StripeGateway:
        kwargs: dict[str, Any] = {
            "http_client": stripe.HTTPXClient(allow_sync_methods=True),
            "max_network_retries": max_retries,
        }
        if api_base:
            kwargs["base_addresses"] = {"api": api_base}
        return cls(stripe.StripeClient(api_key, **kwargs))

    async def _call(self, what: str, coro: Any) -> dict[str, Any]:
        try:
            return _plain(await coro)
        except (stripe.InvalidRequestError, stripe.CardError) as exc:
            raise StripeRejected(
                f"Stripe refused to {what}: {exc.user_message or exc}",
                stripe_code=exc.code,
                field=getattr(exc, "param", None),
            ) from exc
        except stripe.StripeError as exc:
            raise StripeUnavailable(f"Stripe refused or failed to {what}: {exc}") from exc

    async def create_product(self, *, key: str, name: str, metadata: dict[str, str]) -> Any:
        return await self._call(
            "create a product",
            self.client.v1.products.create_async(
                params={"name": name, "metadata": metadata}, options={"idempotency_key": key}
            ),
        )

    async def create_price(
        self,
        *,
        key: str,
        product: str,
        currency: str,
        unit_amount: int,
        interval: str,
        metadata: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        params: dict[str, Any] = {
            "product": product,
            "currency": currency,
            "unit_amount": unit_amount,
            "recurring": {"interval": interval},
        }
        if metadata:
            params["metadata"] = metadata
        return await self._call(
            "create a price",
            self.client.v1.prices.create_async(
                params=_sdk(params),
                options={"idempotency_key": key},
            ),
        )

    async def deactivate_price(self, price_id: str, *, key: str) -> dict[str, Any]:
        """Archived plans: Stripe refuses new subscriptions on an inactive price, while the
        subscriptions already on it go on."""
        return await self._call(
            "deactivate a price",
            self.client.v1.prices.update_async(
                price_id, params={"active": False}, options={"idempotency_key": key}
            ),
        )

    async def create_customer(
        self, *, key: str, email: str | None, name: str | None, metadata: dict[str, str]
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"metadata": metadata}
        if email:
            params["email"] = email
        if name:
            params["name"] = name
        return await self._call(
            "create a customer",
            self.client.v1.customers.create_async(
                params=_sdk(params),
                options={"idempotency_key": key},
            ),
        )

    async def create_subscription(
        self,
        *,
        key: str,
        customer: str,
        price: str,
        seats: int,
        collection_method: str,
        days_until_due: int | None,
        trial_days: int | None = None,
        metadata: dict[str, str],
    ) -> dict[str, Any]:
        params: dict[str, Any] = {
            "customer": customer,
            "items": [{"price": price, "quantity": seats}],
            "collection_method": collection_method,
            "metadata": metadata,
        }
        if trial_days:
            params["trial_period_days"] = trial_days
        if collection_method == "send_invoice":
            params["days_until_due"] = days_until_due if days_until_due is not None else 30
        return await self._call(
            "create a subscription",
            self.client.v1.subscriptions.create_async(
                params=_sdk(params),
                options={"idempotency_key": key},
            ),
        )

    async def update_subscription(
        self, subscription_id: str, *, key: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        return await self._call(
            "update a subscription",
            self.client.v1.subscriptions.update_async(
                subscription_id,
                params=_sdk(params),
                options={"idempotency_key": key},
            ),
        )

    async def cancel_subscription(
        self, subscription_id: str, *, key: str, comment: str | None
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"prorate": False}
        if comment:
            params["cancellation_details"] = {"comment": comment}
        return await self._call(
            "cancel a subscription",
            self.client.v1.subscriptions.cancel_async(
                subscription_id,
                params=_sdk(params),
                options={"idempotency_key": key},
            ),
        )

    async def retrieve_subscription(self, subscription_id: str) -> dict[str, Any]:
        """Stripe's current state of a subscription (webhook order not settled)."""
        return await self._call(
            "read a subscription", self.client.v1.subscriptions.retrieve_async(subscription_id)
        )

    async def retrieve_invoice(self, invoice_id: str) -> dict[str, Any]:
        """Stripe's current state of an invoice (webhook order not settled)."""
        return await self._call(
            "read an invoice", self.client.v1.invoices.retrieve_async(invoice_id)
        )

    async def retrieve_subscription_with_payment_methods(
        self, subscription_id: str
    ) -> dict[str, Any]:
        """The subscription with every place Stripe looks for the payment method of a
        renewal expanded: the subscription's own default, then the customer's."""
        return await self._call(
            "read a subscription",
            self.client.v1.subscriptions.retrieve_async(
                subscription_id,
                params={
                    "expand": [
                        "default_payment_method",
                        "default_source",
                        "customer",
                        "customer.invoice_settings.default_payment_method",
                        "customer.default_source",
                    ]
                },
            ),
        )

    async def schedule_from_subscription(self, subscription_id: str, *, key: str) -> dict[str, Any]:
        return await self._call(
            "schedule a subscription change",
            self.client.v1.subscription_schedules.create_async(
                params={"from_subscription": subscription_id},
                options={"idempotency_key": key},
            ),
        )

    async def update_schedule(
        self, schedule_id: str, *, key: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        return await self._call(
            "schedule a subscription change",
            self.client.v1.subscription_schedules.update_async(
                schedule_id,
                params=_sdk(params),
                options={"idempotency_key": key},
            ),
        )

    async def release_schedule(self, schedule_id: str, *, key: str) -> dict[str, Any]:
        """Detach the schedule: the subscription keeps its current items, the scheduled
        phase is dropped."""
        return await self._call(
            "withdraw a scheduled subscription change",
            self.client.v1.subscription_schedules.release_async(
                schedule_id,
                params={"preserve_cancel_date": False},
                options={"idempotency_key": key},
            ),
        )

    async def create_invoice(self, *, key: str, params: dict[str, Any]) -> dict[str, Any]:
        return await self._call(
            "create an invoice",
            self.client.v1.invoices.create_async(
                params=_sdk(params),
                options={"idempotency_key": key},
            ),
        )

    async def create_invoice_item(self, *, key: str, params: dict[str, Any]) -> dict[str, Any]:
        return await self._call(
            "create an invoice item",
            self.client.v1.invoice_items.create_async(
                params=_sdk(params),
                options={"idempotency_key": key},
            ),
        )

    async def finalize_invoice(self, invoice_id: str, *, key: str) -> dict[str, Any]:
        return await self._call(
            "finalize an invoice",
            self.client.v1.invoices.finalize_invoice_async(
                invoice_id, options={"idempotency_key": key}
            ),
        )

    async def send_invoice(self, invoice_id: str, *, key: str) -> dict[str, Any]:
        return await self._call(
            "send an invoice",
            self.client.v1.invoices.send_invoice_async(
                invoice_id, options={"idempotency_key": key}
            ),
        )

    async def void_invoice(self, invoice_id: str, *, key: str) -> dict[str, Any]:
        return await self._call(
            "void an invoice",
            self.client.v1.invoices.void_invoice_async(
                invoice_id, options={"idempotency_key": key}
            ),
        )

    async def create_refund(self, *, key: str, params: dict[str, Any]) -> dict[str, Any]:
        return await self._call(
            "create a refund",
            self.client.v1.refunds.create_async(
                params=_sdk(params),
                options={"idempotency_key": key},
            ),
        )

    async def create_credit_note(self, *, key: str, params: dict[str, Any]) -> dict[str, Any]:
        return await self._call(
            "create a credit note",
            self.client.v1.credit_notes.create_async(
                params=_sdk(params),
                options={"idempotency_key": key},
            ),
        )

    async def list_events(
        self, *, created_gte: int, limit: int = 100, max_pages: int = 50
    ) -> list[dict[str, Any]]:
        """Events created since ``created_gte``, following ``has_more`` page by page."""
        events: list[dict[str, Any]] = []
        params: dict[str, Any] = {"limit": limit, "created": {"gte": created_gte}}
        for _ in range(max_pages):
            try:
                page = await self.client.v1.events.list_async(params=_sdk(params))
            except stripe.StripeError as exc:
                raise StripeUnavailable(f"Stripe refused to list events: {exc}") from exc
            batch = [_plain(e) for e in page.data]
            events.extend(batch)
            if not page.has_more or not batch:
                break
            params = {**params, "starting_after": batch[-1]["id"]}
        return events


def _sdk(params: dict[str, Any]) -> Any:
    """Our request parameters as the SDK's per-call ``TypedDict``: built from values this
    service validated, they cannot be proven to match its ``Literal`` fields statically
    (``{"interval": interval}`` is a ``str``), and Stripe (stripe-mock in tests) checks
    them against its spec anyway. The one place that says so."""
    return params


async def get_stripe(request: Request) -> StripeGateway:
    gateway: StripeGateway = request.app.state.stripe
    return gateway


StripeDep = Annotated[StripeGateway, Depends(get_stripe)]
