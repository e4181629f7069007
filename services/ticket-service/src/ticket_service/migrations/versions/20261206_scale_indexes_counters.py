"""Scale: indexes for every documented ticket list order and filter, the agents' active
ticket counter (least-loaded assignment in O(agents)), and the configuration version
that lets each process cache rules, policies, calendars and agents.

Revision ID: 20261206_scale
Revises: 20261206_ops_holidays
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261206_scale"
down_revision: str | None = "20261206_ops_holidays"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE = "('new', 'open', 'pending', 'on_hold')"

# Every list is newest first with ``id`` as the tie-break (keyset pagination on
# ``(created_at, id)``): each filter gets ``(filter, created_at, id)`` so the first page
# and a cursor 50 pages deep are both one index range, never a sort of the matches.
LIST_INDEXES = {
    "ix_tickets_created": ["created_at", "id"],
    "ix_tickets_tenant_created_id": ["tenant_id", "created_at", "id"],
    "ix_tickets_status_created": ["status", "created_at", "id"],
    "ix_tickets_queue_created": ["queue", "created_at", "id"],
    "ix_tickets_assignee_created": ["assignee_id", "created_at", "id"],
    "ix_tickets_priority_created": ["priority", "created_at", "id"],
    "ix_tickets_category_created": ["category", "created_at", "id"],
}
# the single-column indexes the composite ones above make redundant
REPLACED = [
    "ix_tickets_tenant_created",
    "ix_tickets_tenant_id",
    "ix_tickets_status",
    "ix_tickets_queue",
    "ix_tickets_assignee_id",
    "ix_tickets_priority",
    "ix_tickets_category",
]
CONFIG_TABLES = ("triage_rules", "sla_policies", "business_calendars")


def upgrade() -> None:
    for name, columns in LIST_INDEXES.items():
        op.create_index(name, "tickets", columns)
    # the SLA-state filter of running, warning, breached and paused clocks only ever
    # matches active tickets: walk those newest first
    op.create_index(
        "ix_tickets_active_created",
        "tickets",
        ["created_at", "id"],
        postgresql_where=sa.text(f"status IN {ACTIVE}"),
    )
    for name in REPLACED:
        op.drop_index(name, table_name="tickets")

    # --- the agents' load, kept by the database itself --------------------------------
    op.add_column(
        "agents",
        sa.Column("active_tickets", sa.Integer(), nullable=False, server_default="0"),
    )
    op.execute(
        f"""
        UPDATE agents a SET active_tickets = c.n
        FROM (SELECT assignee_id, count(*) AS n FROM tickets
              WHERE status IN {ACTIVE} AND assignee_id IS NOT NULL GROUP BY assignee_id) c
        WHERE a.id = c.assignee_id
        """
    )
    # A trigger, not application code: every path that assigns, reassigns, solves or
    # reopens a ticket (the API, consumers, scans, a manual fix in psql) keeps it right.
    op.execute(
        f"""
        CREATE FUNCTION ticket_agent_load() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            old_agent text;
            new_agent text;
        BEGIN
            IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status IN {ACTIVE} THEN
                old_agent := OLD.assignee_id;
            END IF;
            IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.status IN {ACTIVE} THEN
                new_agent := NEW.assignee_id;
            END IF;
            IF old_agent IS NOT DISTINCT FROM new_agent THEN
                RETURN NULL;
            END IF;
            IF old_agent IS NOT NULL THEN
                UPDATE agents SET active_tickets = active_tickets - 1 WHERE id = old_agent;
            END IF;
            IF new_agent IS NOT NULL THEN
                UPDATE agents SET active_tickets = active_tickets + 1 WHERE id = new_agent;
            END IF;
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER tickets_agent_load
        AFTER INSERT OR DELETE OR UPDATE OF assignee_id, status ON tickets
        FOR EACH ROW EXECUTE FUNCTION ticket_agent_load()
        """
    )
    op.execute(
        """
        CREATE FUNCTION ticket_agent_load_reset() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE agents SET active_tickets = 0 WHERE active_tickets <> 0;
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER tickets_agent_load_reset AFTER TRUNCATE ON tickets
        FOR EACH STATEMENT EXECUTE FUNCTION ticket_agent_load_reset()
        """
    )

    # --- the configuration version ------------------------------------------------------
    # One row; a change of rules, policies, calendars or agents sets it to the changing
    # transaction's id. A transaction id is never reused, so a cache tagged with an old
    # value is never mistaken for current (a counter restarts after a TRUNCATE).
    op.create_table(
        "config_version",
        sa.Column("id", sa.SmallInteger(), primary_key=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
    )
    op.execute("INSERT INTO config_version (id, version) VALUES (1, txid_current())")
    op.execute(
        """
        CREATE FUNCTION ticket_config_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO config_version (id, version) VALUES (1, txid_current())
            ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version
            WHERE config_version.version IS DISTINCT FROM EXCLUDED.version;
            RETURN NULL;
        END $$
        """
    )
    for table in CONFIG_TABLES:
        op.execute(
            f"""
            CREATE TRIGGER {table}_config_changed
            AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION ticket_config_changed()
            """
        )
    # not on ``active_tickets``: the load moves with every ticket, the roster does not
    op.execute(
        """
        CREATE TRIGGER agents_config_changed
        AFTER INSERT OR DELETE OR TRUNCATE OR UPDATE OF id, name, email, available, queues
        ON agents FOR EACH STATEMENT EXECUTE FUNCTION ticket_config_changed()
        """
    )


def downgrade() -> None:
    for table in (*CONFIG_TABLES, "agents"):
        op.execute(f"DROP TRIGGER IF EXISTS {table}_config_changed ON {table}")
    op.execute("DROP FUNCTION IF EXISTS ticket_config_changed()")
    op.drop_table("config_version")
    op.execute("DROP TRIGGER IF EXISTS tickets_agent_load_reset ON tickets")
    op.execute("DROP FUNCTION IF EXISTS ticket_agent_load_reset()")
    op.execute("DROP TRIGGER IF EXISTS tickets_agent_load ON tickets")
    op.execute("DROP FUNCTION IF EXISTS ticket_agent_load()")
    op.drop_column("agents", "active_tickets")
    op.create_index("ix_tickets_tenant_created", "tickets", ["tenant_id", "created_at"])
    for name, column in (
        ("ix_tickets_tenant_id", "tenant_id"),
        ("ix_tickets_status", "status"),
        ("ix_tickets_queue", "queue"),
        ("ix_tickets_assignee_id", "assignee_id"),
        ("ix_tickets_priority", "priority"),
        ("ix_tickets_category", "category"),
    ):
        op.create_index(name, "tickets", [column])
    op.drop_index("ix_tickets_active_created", table_name="tickets")
    for name in LIST_INDEXES:
        op.drop_index(name, table_name="tickets")
