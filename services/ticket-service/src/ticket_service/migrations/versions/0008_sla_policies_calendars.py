"""Business calendars and SLA policies, seeded with the defaults.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22
"""

import uuid
from collections.abc import Sequence
from datetime import time

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEED_NAMESPACE = uuid.UUID("6f1d7a52-3c1e-4b7a-9d0e-5a0c2b7e9f10")
# business minutes: (first response, resolution) per priority, for any tier
DEFAULT_TARGETS = {
    "urgent": (60, 480),
    "high": (240, 1440),
    "normal": (480, 2400),
    "low": (960, 4800),
}
# bigger plans are promised faster answers
TIER_FACTORS = {"enterprise": 0.5, "business": 0.75}


def upgrade() -> None:
    op.create_table(
        "business_calendars",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("workdays", postgresql.ARRAY(sa.Integer()), nullable=False),
        sa.Column("opens", sa.Time(), nullable=False),
        sa.Column("closes", sa.Time(), nullable=False),
        sa.Column("holidays", postgresql.ARRAY(sa.Date()), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_business_calendars")),
    )
    op.create_table(
        "sla_policies",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("plan_tier", sa.String(length=32), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("first_response_minutes", sa.Integer(), nullable=False),
        sa.Column("resolution_minutes", sa.Integer(), nullable=False),
        sa.Column("calendar_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["calendar_id"],
            ["business_calendars.id"],
            name=op.f("fk_sla_policies_calendar_id_business_calendars"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_policies")),
        sa.UniqueConstraint("plan_tier", "priority", name=op.f("uq_sla_policies_plan_tier")),
    )
    calendars = sa.table(
        "business_calendars",
        sa.column("id", sa.String()),
        sa.column("name", sa.String()),
        sa.column("timezone", sa.String()),
        sa.column("workdays", postgresql.ARRAY(sa.Integer())),
        sa.column("opens", sa.Time()),
        sa.column("closes", sa.Time()),
        sa.column("holidays", postgresql.ARRAY(sa.Date())),
        sa.column("version", sa.Integer()),
    )
    op.bulk_insert(
        calendars,
        [
            {
                "id": "default",
                "name": "Support hours (New York)",
                "timezone": "America/New_York",
                "workdays": [0, 1, 2, 3, 4],
                "opens": time(9, 0),
                "closes": time(17, 0),
                "holidays": [],
                "version": 1,
            }
        ],
    )
    policies = sa.table(
        "sla_policies",
        sa.column("id", sa.Uuid()),
        sa.column("plan_tier", sa.String()),
        sa.column("priority", sa.String()),
        sa.column("first_response_minutes", sa.Integer()),
        sa.column("resolution_minutes", sa.Integer()),
        sa.column("calendar_id", sa.String()),
        sa.column("version", sa.Integer()),
    )
    rows = []
    for tier, factor in [("default", 1.0), *TIER_FACTORS.items()]:
        for priority, (first, resolution) in DEFAULT_TARGETS.items():
            rows.append(
                {
                    "id": uuid.uuid5(SEED_NAMESPACE, f"sla:{tier}:{priority}"),
                    "plan_tier": tier,
                    "priority": priority,
                    "first_response_minutes": round(first * factor),
                    "resolution_minutes": round(resolution * factor),
                    "calendar_id": "default",
                    "version": 1,
                }
            )
    op.bulk_insert(policies, rows)


def downgrade() -> None:
    op.drop_table("sla_policies")
    op.drop_table("business_calendars")
