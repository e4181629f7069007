"""Tables every service has: outbox, inbox and idempotency keys (kit-owned metadata)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from servicekit.db import make_metadata

kit_metadata = make_metadata()

OUTBOX_CHANNEL = "servicekit_outbox"

outbox = sa.Table(
    "outbox",
    kit_metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("event_id", sa.String(64), nullable=False, unique=True),
    sa.Column("event_type", sa.String(128), nullable=False),
    sa.Column("topic", sa.String(255), nullable=False),
    sa.Column("key", sa.String(255), nullable=False),
    # The Kafka record as it will be sent (CloudEvents binary mode): the relay sends
    # bytes, it never re-encodes an event.
    sa.Column("headers", JSONB, nullable=False),
    sa.Column("payload", sa.LargeBinary, nullable=False),
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Index(
        "ix_outbox_pending_key",
        "key",
        "id",
        postgresql_where=sa.text("published_at IS NULL"),
    ),
    sa.Index("ix_outbox_pending", "id", postgresql_where=sa.text("published_at IS NULL")),
)

inbox = sa.Table(
    "inbox",
    kit_metadata,
    sa.Column("consumer", sa.String(128), primary_key=True),
    sa.Column("event_id", sa.String(64), primary_key=True),
    sa.Column("event_type", sa.String(128), nullable=False),
    sa.Column("outcome", sa.String(32), nullable=False, server_default="processed"),
    sa.Column(
        "received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    kit_metadata,
    sa.Column("scope", sa.String(512), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("response_body", JSONB, nullable=True),
    sa.Column("response_headers", JSONB, nullable=True),
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
)

NOTIFY_FUNCTION_SQL = f"""
CREATE OR REPLACE FUNCTION servicekit_outbox_notify() RETURNS trigger AS $$
BEGIN
  PERFORM pg_notify('{OUTBOX_CHANNEL}', '');
  RETURN NULL;
END;
$$ LANGUAGE plpgsql
"""

NOTIFY_TRIGGER_SQL = """
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
FOR EACH STATEMENT EXECUTE FUNCTION servicekit_outbox_notify()
"""
