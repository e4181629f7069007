"""QA escalation and bug events on tickets; proactive billing follow-up tickets."""

from __future__ import annotations

from typing import Any

from ticket_service_testkit import AGENT, Service, error_fields, open_ticket, problem

from servicekit.testing import eventually, payload, send_events
from supportops_events.samples import sample
from supportops_events.tickets import TicketEscalated, TicketSolved

REPORT = {
    "steps": ["Open Reports", "Click Save on any report"],
    "expected": "The report is saved",
    "actual": "An error 500 page appears",
    "environment": {"app_version": "4.12.0", "browser": "Firefox 128"},
    "severity": "high",
}


async def _detail(svc: Service, ticket_id: str) -> dict[str, Any]:
    response = await svc.client.get(f"/v1/tickets/{ticket_id}", headers=AGENT)
    body: dict[str, Any] = response.json()
    return body


async def test_escalation_refuses_an_incomplete_report_naming_what_is_missing(
    svc: Service,
) -> None:
    ticket = await open_ticket(
        svc.client, await svc.tenant(), subject="Save fails", body="error 500"
    )
    url = f"/v1/tickets/{ticket['id']}/escalations"
    incomplete = {"steps": [], "expected": "n/a", "environment": {}, "severity": "meh"}
    body = problem(await svc.client.post(url, json=incomplete, headers=AGENT), 422)
    assert error_fields(body) == {"steps", "expected", "actual", "environment", "severity"}
    blank_step = {**REPORT, "steps": ["Open Reports", "  "]}
    body = problem(await svc.client.post(url, json=blank_step, headers=AGENT), 422)
    assert error_fields(body) == {"steps.1"}
    assert (await _detail(svc, ticket["id"]))["status"] == "new"


async def test_escalate_then_bug_resolved_solves_with_the_fixed_reply(svc: Service) -> None:
    t = await svc.tenant()
    ticket = await open_ticket(svc.client, t, subject="Save fails", body="error 500 on save")
    assert ticket["category"] == "potential_bug"
    response = await svc.client.post(
        f"/v1/tickets/{ticket['id']}/escalations", json=REPORT, headers=AGENT
    )
    assert response.status_code == 201, response.text
    assert (await _detail(svc, ticket["id"]))["status"] == "on_hold"
    (escalated,) = await svc.events_of(
        "tickets.events", subject=ticket["id"], count=1, types={"ticket.escalated"}
    )
    assert payload(escalated, TicketEscalated).steps == REPORT["steps"]
    assert escalated.data.status == "on_hold"

    bug = {"tenant_id": t, "bug_id": f"bug-{t}", "key": f"BUG-{t}", "title": "Save fails"}
    linked = [ticket["id"], "tkt-of-someone-else"]
    await send_events(
        [
            sample(
                "bug.reported",
                **bug,
                status="reported",
                linked_ticket_ids=linked,
                ticket_id=ticket["id"],
            ),
            sample("bug.reproduced", **bug, status="reproduced", linked_ticket_ids=linked),
        ],
        prefix=svc.prefix,
    )

    async def reproduced() -> None:
        detail = await _detail(svc, ticket["id"])
        assert [b["status"] for b in detail["linked_bugs"]] == ["reproduced"]
        assert detail["account"]["open_bugs"][0]["key"] == f"BUG-{t}"

    await eventually(reproduced)
    resolved = sample(
        "bug.resolved",
        **bug,
        status="resolved",
        linked_ticket_ids=linked,
        fixed_in_version="4.12.1",
    )
    await send_events([resolved, resolved], prefix=svc.prefix)

    async def solved() -> dict[str, Any]:
        detail = await _detail(svc, ticket["id"])
        assert detail["status"] == "solved"
        return detail

    detail = await eventually(solved)
    fixed = [e for e in detail["timeline"] if e["template_key"] == "bug_fixed"]
    assert len(fixed) == 1 and "4.12.1" in fixed[0]["body"]
    actions = [e["action"] for e in detail["timeline"] if e["kind"] == "system"]
    assert actions.count("bug.resolved") == 1
    assert "bug.reproduced" in actions
    assert detail["account"]["open_bugs"] == []
    (solved_event,) = await svc.events_of(
        "tickets.events", subject=ticket["id"], count=1, types={"ticket.solved"}
    )
    assert payload(solved_event, TicketSolved).linked_bug_ids == [f"bug-{t}"]
    assert payload(solved_event, TicketSolved).automatic is True


async def test_billing_followup_opens_one_ticket_and_payment_solves_it(svc: Service) -> None:
    t = await svc.tenant()
    key, invoice = f"invoice:{t}", f"inv-{t}"
    required = {"tenant_id": t, "followup_key": key, "invoice_id": invoice}
    await send_events(
        [
            sample("billing.followup_required", **required),
            sample("billing.followup_required", **required, cause="invoice_overdue"),
        ],
        prefix=svc.prefix,
    )

    async def opened() -> dict[str, Any]:
        listed = (
            await svc.client.get(f"/v1/tickets?tenant_id={t}&queue=billing", headers=AGENT)
        ).json()
        assert len(listed["items"]) == 1
        item: dict[str, Any] = listed["items"][0]
        return item

    ticket = await eventually(opened)
    assert ticket["followup_key"] == key
    assert ticket["channel"] == "proactive"
    assert ticket["category"] == "billing" and ticket["priority"] == "high"
    await send_events([sample("invoice.paid", tenant_id=t, invoice_id=invoice)], prefix=svc.prefix)

    async def solved() -> dict[str, Any]:
        detail = await _detail(svc, ticket["id"])
        assert detail["status"] == "solved"
        return detail

    detail = await eventually(solved)
    notes = [e for e in detail["timeline"] if e["action"] == "followup_resolved"]
    assert len(notes) == 1 and "paid" in notes[0]["body"]
    listed = (await svc.client.get(f"/v1/tickets?tenant_id={t}", headers=AGENT)).json()
    assert len(listed["items"]) == 1  # still one ticket for the key


async def test_every_bug_transition_lands_on_linked_tickets_verified_included(
    svc: Service,
) -> None:
    t = await svc.tenant()
    ticket = await open_ticket(svc.client, t, subject="Export fails", body="error 500 on export")
    bug = {"tenant_id": t, "bug_id": f"bug-{t}", "key": f"BUG-{t}", "title": "Export fails"}
    linked = [ticket["id"]]
    transitions = [
        ("bug.reported", "reported", {"ticket_id": ticket["id"]}),
        ("bug.reproducing", "reproducing", {}),
        ("bug.reproduced", "reproduced", {}),
        ("bug.escalated", "escalated", {}),
        ("bug.in_progress", "in_progress", {}),
        ("bug.resolved", "resolved", {"fixed_in_version": "4.13.0"}),
        ("bug.verified", "verified", {"fixed_in_version": "4.13.0"}),
    ]
    events = [
        sample(kind, **bug, status=status, linked_ticket_ids=linked, **extra)
        for kind, status, extra in transitions
    ]
    await send_events([*events, events[-1]], prefix=svc.prefix)  # verified twice

    async def verified() -> dict[str, Any]:
        detail = await _detail(svc, ticket["id"])
        assert [b["status"] for b in detail["linked_bugs"]] == ["verified"]
        return detail

    detail = await eventually(verified)
    bug_entries = [
        e for e in detail["timeline"] if e["kind"] == "system" and e["data"].get("bug_id")
    ]
    assert [(e["action"], e["data"]["status"]) for e in bug_entries] == [
        (kind, status) for kind, status, _ in transitions
    ]
    assert "in progress" in bug_entries[4]["body"]
    assert detail["status"] == "solved"  # the fix was announced with the approved reply
    assert [e["template_key"] for e in detail["timeline"] if e["kind"] == "reply"][1:] == [
        "bug_fixed",
        "csat_survey",
    ]
    assert detail["account"]["open_bugs"] == []


async def test_followup_resolved_solves_the_proactive_ticket_without_a_survey(
    svc: Service,
) -> None:
    t = await svc.tenant()
    key = f"renewal:{t}"
    await send_events(
        [
            sample(
                "billing.followup_required", tenant_id=t, followup_key=key, cause="renewal_at_risk"
            )
        ],
        prefix=svc.prefix,
    )

    async def opened() -> dict[str, Any]:
        listed = (await svc.client.get(f"/v1/tickets?tenant_id={t}", headers=AGENT)).json()
        assert [i["followup_key"] for i in listed["items"]] == [key]
        item: dict[str, Any] = listed["items"][0]
        return item

    ticket = await eventually(opened)
    assert ticket["queue"] == "billing" and "renewal_at_risk" in ticket["tags"]
    await send_events(
        [
            sample(
                "billing.followup_resolved",
                tenant_id=t,
                followup_key=key,
                cause="renewal_at_risk",
                resolution="invoice_paid",
            )
        ],
        prefix=svc.prefix,
    )

    async def solved() -> dict[str, Any]:
        detail = await _detail(svc, ticket["id"])
        assert detail["status"] == "solved"
        return detail

    detail = await eventually(solved)
    (note,) = [e for e in detail["timeline"] if e["action"] == "followup_resolved"]
    assert "invoice_paid" in note["body"]
    assert not [e for e in detail["timeline"] if e["action"] == "csat_survey_sent"]
    (solved_event,) = await svc.events_of(
        "tickets.events", subject=ticket["id"], count=1, types={"ticket.solved"}
    )
    assert payload(solved_event, TicketSolved).automatic is True
