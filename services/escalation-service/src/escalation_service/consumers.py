"""The escalation-service's event router: every feature registers its typed handlers on
one ``EventRouter`` (so ``received.clock`` is the app's clock), plus the known tenants."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from escalation_service.bugs import consumers as bugs_consumers
from escalation_service.impact import consumers as impact_consumers
from escalation_service.ownership import known_tenants
from servicekit.consumer import EventRouter, Received
from supportops_events.onboarding import (
    TenantActivated,
    TenantChurned,
    TenantCreated,
    TenantEvent,
    TenantOnboarded,
    TenantReactivated,
    TenantSuspended,
)

TENANT_EVENTS: tuple[type[TenantEvent], ...] = (
    TenantCreated,
    TenantActivated,
    TenantOnboarded,
    TenantSuspended,
    TenantReactivated,
    TenantChurned,
)


async def on_tenant_event(session: AsyncSession, received: Received[TenantEvent]) -> None:
    """The tenants onboarding announced: a ``tenant_id`` a request names must be one."""
    tenant = received.data
    await known_tenants.remember(
        session, tenant_id=str(tenant.tenant_id), status=tenant.status.value, at=received.time
    )


def build_events(*, duplicate_threshold: float) -> EventRouter:
    """The service's consumers; ``duplicate_threshold`` is the settings' (one source)."""
    events = EventRouter()
    bugs_consumers.register(events, duplicate_threshold=duplicate_threshold)
    impact_consumers.register(events)
    for tenant_event in TENANT_EVENTS:
        events.on(tenant_event)(on_tenant_event)
    return events
