"""SLA deadlines on tickets (live SLA state in lists), the next-response clock, one SLA
notification per next-response cycle, the tenant status reason, disputes and corrections
in the account context, and the approved CSAT survey template.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEED_NAMESPACE = uuid.UUID("6f1d7a52-3c1e-4b7a-9d0e-5a0c2b7e9f10")
METRICS = ("first_response", "next_response", "resolution")

CSAT_TEMPLATE = {
    "key": "csat_survey",
    "title": "How did we do? (satisfaction survey)",
    "variables": ["requester_name", "ticket_subject", "survey_url", "expires_on"],
    "body": (
        "Hello {{ requester_name }},\n\n"
        'we have solved your request "{{ ticket_subject }}". How did we do? '
        "Please rate our support from 1 to 5 (a comment is welcome too):\n"
        "{{ survey_url }}\n\n"
        "The link is valid until {{ expires_on }}. If the problem is not solved, just "
        "reply to this message and we will pick it up again.\n\n"
        "Kind regards,\nCustomer Support"
    ),
}


def upgrade() -> None:
    # derived SLA state of each clock: phase (running, paused, breached, met, missed),
    # when it is due and when its warning starts; NULL until first computed
    for metric in METRICS:
        op.add_column("tickets", sa.Column(f"sla_{metric}_phase", sa.String(16), nullable=True))
        op.add_column(
            "tickets", sa.Column(f"sla_{metric}_due_at", sa.DateTime(timezone=True), nullable=True)
        )
        op.add_column(
            "tickets", sa.Column(f"sla_{metric}_warn_at", sa.DateTime(timezone=True), nullable=True)
        )
    op.add_column(
        "tickets", sa.Column("sla_refreshed_at", sa.DateTime(timezone=True), nullable=True)
    )

    # next response: the same targets as first response until an admin changes them
    op.add_column("sla_policies", sa.Column("next_response_minutes", sa.Integer(), nullable=True))
    op.execute("UPDATE sla_policies SET next_response_minutes = first_response_minutes")
    op.alter_column("sla_policies", "next_response_minutes", nullable=False)

    # one warning and one breach per next-response cycle (first response and
    # resolution keep the empty cycle)
    op.add_column(
        "sla_notifications",
        sa.Column("cycle", sa.String(64), nullable=False, server_default=""),
    )
    op.drop_constraint("pk_sla_notifications", "sla_notifications", type_="primary")
    op.create_primary_key(
        "pk_sla_notifications", "sla_notifications", ["ticket_id", "metric", "kind", "cycle"]
    )

    op.add_column("accounts", sa.Column("tenant_status_reason", sa.String(200), nullable=True))
    op.create_table(
        "account_disputes",
        sa.Column("dispute_id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("invoice_id", sa.String(length=64), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("evidence_due_by", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("dispute_id", name=op.f("pk_account_disputes")),
    )
    op.create_index(
        op.f("ix_account_disputes_tenant_id"), "account_disputes", ["tenant_id"], unique=False
    )
    op.create_table(
        "account_corrections",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("invoice_id", sa.String(length=64), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_corrections")),
    )
    op.create_index(
        op.f("ix_account_corrections_tenant_id"),
        "account_corrections",
        ["tenant_id"],
        unique=False,
    )

    templates = sa.table(
        "templates",
        sa.column("id", sa.Uuid()),
        sa.column("key", sa.String()),
        sa.column("version", sa.Integer()),
        sa.column("title", sa.String()),
        sa.column("body", sa.Text()),
        sa.column("variables", postgresql.ARRAY(sa.String())),
        sa.column("approved", sa.Boolean()),
    )
    op.bulk_insert(
        templates,
        [
            {
                **CSAT_TEMPLATE,
                "id": uuid.uuid5(SEED_NAMESPACE, "template:csat_survey"),
                "version": 1,
                "approved": True,
            }
        ],
    )


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM templates WHERE key = 'csat_survey' AND version = 1"))
    op.drop_index(op.f("ix_account_corrections_tenant_id"), table_name="account_corrections")
    op.drop_table("account_corrections")
    op.drop_index(op.f("ix_account_disputes_tenant_id"), table_name="account_disputes")
    op.drop_table("account_disputes")
    op.drop_column("accounts", "tenant_status_reason")
    op.execute("DELETE FROM sla_notifications WHERE cycle <> ''")
    op.drop_constraint("pk_sla_notifications", "sla_notifications", type_="primary")
    op.create_primary_key(
        "pk_sla_notifications", "sla_notifications", ["ticket_id", "metric", "kind"]
    )
    op.drop_column("sla_notifications", "cycle")
    op.drop_column("sla_policies", "next_response_minutes")
    op.drop_column("tickets", "sla_refreshed_at")
    for metric in METRICS:
        for suffix in ("phase", "due_at", "warn_at"):
            op.drop_column("tickets", f"sla_{metric}_{suffix}")
