"""Tickets, timeline, triage rules, agents, account context, bugs, access requests,
escalations and templates.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 02:14:07.353710
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "account_invoices",
        sa.Column("invoice_id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("overdue", sa.Boolean(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount_remaining", sa.Integer(), nullable=False),
        sa.Column("due_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("invoice_id", name=op.f("pk_account_invoices")),
    )
    op.create_index(
        op.f("ix_account_invoices_tenant_id"), "account_invoices", ["tenant_id"], unique=False
    )
    op.create_table(
        "account_users",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("state_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_account_users")),
    )
    op.create_index(
        op.f("ix_account_users_tenant_id"), "account_users", ["tenant_id"], unique=False
    )
    op.create_table(
        "accounts",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("company_name", sa.String(length=200), nullable=True),
        sa.Column("tenant_status", sa.String(length=32), nullable=True),
        sa.Column("tenant_status_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("domains", postgresql.ARRAY(sa.String(length=255)), nullable=False),
        sa.Column("subscription_id", sa.String(length=64), nullable=True),
        sa.Column("subscription_status", sa.String(length=32), nullable=True),
        sa.Column("subscription_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("plan_code", sa.String(length=64), nullable=True),
        sa.Column("plan_tier", sa.String(length=32), nullable=True),
        sa.Column("seats", sa.Integer(), nullable=True),
        sa.Column("renewal_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_at_period_end", sa.Boolean(), nullable=False),
        sa.Column("last_heard_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_event_type", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_accounts")),
    )
    op.create_table(
        "agents",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("available", sa.Boolean(), nullable=False),
        sa.Column("queues", postgresql.ARRAY(sa.String(length=64)), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agents")),
    )
    op.create_table(
        "bugs",
        sa.Column("bug_id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("state_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("bug_id", name=op.f("pk_bugs")),
    )
    op.create_index(op.f("ix_bugs_tenant_id"), "bugs", ["tenant_id"], unique=False)
    op.create_table(
        "templates",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("variables", postgresql.ARRAY(sa.String(length=64)), nullable=False),
        sa.Column("approved", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_templates")),
        sa.UniqueConstraint("key", "version", name=op.f("uq_templates_key")),
    )
    op.create_index(op.f("ix_templates_key"), "templates", ["key"], unique=False)
    op.create_table(
        "tickets",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("requester_email", sa.String(length=320), nullable=False),
        sa.Column("requester_name", sa.String(length=200), nullable=True),
        sa.Column("requester_user_id", sa.String(length=64), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=True),
        sa.Column("subcategory", sa.String(length=64), nullable=True),
        sa.Column("queue", sa.String(length=64), nullable=True),
        sa.Column("tags", postgresql.ARRAY(sa.String(length=64)), nullable=False),
        sa.Column("assignee_id", sa.String(length=64), nullable=True),
        sa.Column("triage_rule_id", sa.Uuid(), nullable=True),
        sa.Column("followup_key", sa.String(length=200), nullable=True),
        sa.Column("followup_invoice_id", sa.String(length=64), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "search",
            postgresql.TSVECTOR(),
            sa.Computed(
                "to_tsvector('english', coalesce(subject, '') || ' ' || coalesce(body, ''))",
                persisted=True,
            ),
            nullable=False,
        ),
        sa.Column("first_response_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("solved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tickets")),
        sa.UniqueConstraint("followup_key", name=op.f("uq_tickets_followup_key")),
    )
    op.create_index(
        op.f("ix_tickets_followup_invoice_id"), "tickets", ["followup_invoice_id"], unique=False
    )
    op.create_index(op.f("ix_tickets_assignee_id"), "tickets", ["assignee_id"], unique=False)
    op.create_index(op.f("ix_tickets_category"), "tickets", ["category"], unique=False)
    op.create_index(op.f("ix_tickets_priority"), "tickets", ["priority"], unique=False)
    op.create_index(op.f("ix_tickets_queue"), "tickets", ["queue"], unique=False)
    op.create_index(
        "ix_tickets_search", "tickets", ["search"], unique=False, postgresql_using="gin"
    )
    op.create_index(op.f("ix_tickets_status"), "tickets", ["status"], unique=False)
    op.create_index("ix_tickets_tags", "tickets", ["tags"], unique=False, postgresql_using="gin")
    op.create_index(
        "ix_tickets_tenant_created", "tickets", ["tenant_id", "created_at"], unique=False
    )
    op.create_index(op.f("ix_tickets_tenant_id"), "tickets", ["tenant_id"], unique=False)
    op.create_table(
        "triage_rules",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("conditions", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("actions", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_triage_rules")),
        sa.UniqueConstraint("name", name=op.f("uq_triage_rules_name")),
    )
    op.create_index(op.f("ix_triage_rules_position"), "triage_rules", ["position"], unique=False)
    op.create_table(
        "access_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("user_email", sa.String(length=320), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_access_requests_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_requests")),
    )
    op.create_index(
        op.f("ix_access_requests_ticket_id"), "access_requests", ["ticket_id"], unique=False
    )
    op.create_table(
        "escalations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("steps", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("expected", sa.Text(), nullable=False),
        sa.Column("actual", sa.Text(), nullable=False),
        sa.Column("environment", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("escalated_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_escalations_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escalations")),
    )
    op.create_index(op.f("ix_escalations_ticket_id"), "escalations", ["ticket_id"], unique=False)
    op.create_table(
        "ticket_bugs",
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("bug_id", sa.String(length=64), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_ticket_bugs_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("ticket_id", "bug_id", name=op.f("pk_ticket_bugs")),
    )
    op.create_table(
        "timeline_entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("author_type", sa.String(length=16), nullable=False),
        sa.Column("author_id", sa.String(length=200), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("template_key", sa.String(length=100), nullable=True),
        sa.Column("template_version", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_timeline_entries_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_timeline_entries")),
        sa.UniqueConstraint("seq", name=op.f("uq_timeline_entries_seq")),
    )
    op.create_index(
        op.f("ix_timeline_entries_ticket_id"), "timeline_entries", ["ticket_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_timeline_entries_ticket_id"), table_name="timeline_entries")
    op.drop_table("timeline_entries")
    op.drop_table("ticket_bugs")
    op.drop_index(op.f("ix_escalations_ticket_id"), table_name="escalations")
    op.drop_table("escalations")
    op.drop_index(op.f("ix_access_requests_ticket_id"), table_name="access_requests")
    op.drop_table("access_requests")
    op.drop_index(op.f("ix_triage_rules_position"), table_name="triage_rules")
    op.drop_table("triage_rules")
    op.drop_index(op.f("ix_tickets_tenant_id"), table_name="tickets")
    op.drop_index("ix_tickets_tenant_created", table_name="tickets")
    op.drop_index("ix_tickets_tags", table_name="tickets", postgresql_using="gin")
    op.drop_index(op.f("ix_tickets_status"), table_name="tickets")
    op.drop_index("ix_tickets_search", table_name="tickets", postgresql_using="gin")
    op.drop_index(op.f("ix_tickets_queue"), table_name="tickets")
    op.drop_index(op.f("ix_tickets_priority"), table_name="tickets")
    op.drop_index(op.f("ix_tickets_category"), table_name="tickets")
    op.drop_index(op.f("ix_tickets_assignee_id"), table_name="tickets")
    op.drop_index(op.f("ix_tickets_followup_invoice_id"), table_name="tickets")
    op.drop_table("tickets")
    op.drop_index(op.f("ix_templates_key"), table_name="templates")
    op.drop_table("templates")
    op.drop_index(op.f("ix_bugs_tenant_id"), table_name="bugs")
    op.drop_table("bugs")
    op.drop_table("agents")
    op.drop_table("accounts")
    op.drop_index(op.f("ix_account_users_tenant_id"), table_name="account_users")
    op.drop_table("account_users")
    op.drop_index(op.f("ix_account_invoices_tenant_id"), table_name="account_invoices")
    op.drop_table("account_invoices")
