"""Tenants, domains, users, the onboarding checklist, welcome messages, access requests.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("company_name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("plan_code", sa.String(64), nullable=False),
        sa.Column("seats", sa.Integer(), nullable=False),
        sa.Column("seat_limit", sa.Integer(), nullable=False),
        sa.Column("billing_email", sa.String(320), nullable=False),
        sa.Column("collection_method", sa.String(32), nullable=False),
        sa.Column("days_until_due", sa.Integer(), nullable=True),
        sa.Column("configuration", postgresql.JSONB(), nullable=False),
        sa.Column("admin_email", sa.String(320), nullable=False),
        sa.Column("admin_name", sa.String(200), nullable=True),
        sa.Column("subscription_id", sa.String(128), nullable=True),
        sa.Column("subscription_synced_at", TZ, nullable=True),
        sa.Column("suspension_reason", sa.String(32), nullable=True),
        sa.Column("restricted", sa.Boolean(), nullable=False),
        sa.Column("scheduled_suspension_at", TZ, nullable=True),
        sa.Column("net_terms_accepted_at", TZ, nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.Column("activated_at", TZ, nullable=True),
        sa.Column("onboarded_at", TZ, nullable=True),
        sa.Column("suspended_at", TZ, nullable=True),
        sa.Column("churned_at", TZ, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tenants"),
    )
    op.create_index("ix_tenants_status", "tenants", ["status"])
    op.create_index("ix_tenants_plan_code", "tenants", ["plan_code"])
    op.create_index("ix_tenants_scheduled_suspension_at", "tenants", ["scheduled_suspension_at"])
    op.create_index("ix_tenants_created_at_id", "tenants", ["created_at", "id"])

    op.create_table(
        "tenant_domains",
        sa.Column("domain", sa.String(253), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("domain", name="pk_tenant_domains"),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name="fk_tenant_domains_tenant_id_tenants",
            ondelete="CASCADE",
        ),
        # domains are stored lower-cased: uniqueness is case-insensitive
        sa.CheckConstraint("domain = lower(domain)", name="ck_tenant_domains_lowercase"),
    )
    op.create_index("ix_tenant_domains_tenant_id", "tenant_domains", ["tenant_id"])

    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("invitation_token_hash", sa.String(64), nullable=True),
        sa.Column("invitation_expires_at", TZ, nullable=True),
        sa.Column("invited_by", sa.String(200), nullable=True),
        sa.Column("invited_at", TZ, nullable=True),
        sa.Column("activated_at", TZ, nullable=True),
        sa.Column("last_sign_in_at", TZ, nullable=True),
        sa.Column("session_epoch", sa.Integer(), nullable=False),
        sa.Column("mfa_enrolled", sa.Boolean(), nullable=False),
        sa.Column("mfa_reset_at", TZ, nullable=True),
        sa.Column("lock_reason", sa.String(32), nullable=True),
        sa.Column("status_changed_at", TZ, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_users_tenant_id_tenants", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("tenant_id", "email", name="uq_users_tenant_id_email"),
        sa.UniqueConstraint("invitation_token_hash", name="uq_users_invitation_token_hash"),
    )
    op.create_index("ix_users_tenant_id", "users", ["tenant_id"])
    op.create_index("ix_users_status", "users", ["status"])

    op.create_table(
        "onboarding_steps",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("step", sa.String(40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("due_at", TZ, nullable=False),
        sa.Column("completed_at", TZ, nullable=True),
        sa.Column("completed_by", sa.String(200), nullable=True),
        sa.Column("source", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "step", name="pk_onboarding_steps"),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name="fk_onboarding_steps_tenant_id_tenants",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_onboarding_steps_due_at", "onboarding_steps", ["due_at"])

    op.create_table(
        "welcome_messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("template", sa.String(64), nullable=False),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("sent_by", sa.String(200), nullable=False),
        sa.Column("sent_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_welcome_messages"),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name="fk_welcome_messages_tenant_id_tenants",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_welcome_messages_tenant_id", "welcome_messages", ["tenant_id"])

    op.create_table(
        "access_requests",
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("ticket_id", sa.String(128), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reasons", postgresql.JSONB(), nullable=False),
        sa.Column("handled_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("request_id", name="pk_access_requests"),
    )
    op.create_index("ix_access_requests_tenant_id", "access_requests", ["tenant_id"])


def downgrade() -> None:
    for table in (
        "access_requests",
        "welcome_messages",
        "onboarding_steps",
        "users",
        "tenant_domains",
        "tenants",
    ):
        op.drop_table(table)
