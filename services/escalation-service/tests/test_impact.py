"""Customer impact on a bug, from ticket and subscription events."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from escalation_fixtures import AGENT, QA, Running, create, report, uid

from servicekit.testing import eventually, send_events
from supportops_events.samples import SAMPLE_TIME, sample


async def test_a_bug_shows_affected_tenants_highest_tier_and_sla_exposure(
    running: Running,
) -> None:
    starter_tenant, enterprise_tenant = uid("ten"), uid("ten")
    first_ticket, second_ticket = uid("tkt"), uid("tkt")
    bug = await create(
        running.client,
        report(
            tenant_id=starter_tenant,
            linked_tickets=[{"ticket_id": first_ticket, "tenant_id": starter_tenant}],
        ),
    )
    linked = await running.client.post(
        f"/v1/bugs/{bug['id']}/links",
        json={"ticket_id": second_ticket, "tenant_id": enterprise_tenant},
        headers=AGENT,
    )
    assert linked.status_code == 200
    later = SAMPLE_TIME + timedelta(hours=1)
    await send_events(
        [
            sample("subscription.activated", tenant_id=starter_tenant, plan_tier="starter"),
            sample("subscription.updated", tenant_id=enterprise_tenant, plan_tier="enterprise"),
            sample(
                "ticket.sla_breached",
                tenant_id=enterprise_tenant,
                ticket_id=second_ticket,
                status="open",
                breached_at=later,
            ),
            sample("ticket.solved", tenant_id=starter_tenant, ticket_id=first_ticket),
        ],
        prefix=running.prefix,
    )

    async def impact() -> dict[str, Any]:
        detail: dict[str, Any] = (
            await running.client.get(f"/v1/bugs/{bug['id']}", headers=QA)
        ).json()
        assert detail["impact"]["highest_customer_tier"] == "enterprise"
        assert detail["impact"]["sla_breached_tickets"] == 1
        assert detail["impact"]["open_linked_tickets"] == 1
        return detail

    detail = await eventually(impact)
    assert detail["affected_tenants"] == sorted([starter_tenant, enterprise_tenant])
    assert detail["impact"]["tiers"] == {
        starter_tenant: "starter",
        enterprise_tenant: "enterprise",
    }
    tickets = {t["ticket_id"]: t for t in detail["linked_tickets"]}
    assert tickets[second_ticket]["sla_state"] == "breached"
    assert tickets[first_ticket]["ticket_status"] == "solved"
