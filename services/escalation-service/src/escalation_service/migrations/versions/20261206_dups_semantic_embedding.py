"""The semantic duplicate signal: each bug's report embedding (a unit vector of the static
MiniLM distillation, ``bugs.embedding``), written at filing and editing; existing bugs are
embedded here.

Revision ID: 20261206_dups_semantic_embedding
Revises: 20261206_scale_escalation
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from escalation_service.bugs.embedding import embed
from escalation_service.bugs.similarity import document

revision: str = "20261206_dups_semantic_embedding"
down_revision: str | None = "20261206_scale_escalation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("bugs", sa.Column("embedding", postgresql.ARRAY(sa.REAL()), nullable=True))
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, title, summary, steps_text, actual FROM bugs"))
    for row in rows.mappings().all():
        text = document(
            title=row["title"],
            description=row["summary"] or "",
            steps=[row["steps_text"] or ""],
            actual=row["actual"] or "",
        )
        bind.execute(
            sa.text("UPDATE bugs SET embedding = :e WHERE id = :id"),
            {"e": embed(text), "id": row["id"]},
        )


def downgrade() -> None:
    op.drop_column("bugs", "embedding")
