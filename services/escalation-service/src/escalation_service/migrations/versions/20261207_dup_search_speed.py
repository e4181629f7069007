"""Duplicate search at scale (decision 0052): the title arm of the search compares
``lower(title)`` with the report's title by ``pg_trgm``, so its trigram index is built on
that expression (the former ``ix_bugs_title_trgm`` on ``title`` never served it: the search
seq-scanned ``bugs``; nothing else reads it, so it goes).

Revision ID: 20261207_dup_search_speed
Revises: 20261206_embedder_minilm
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "20261207_dup_search_speed"
down_revision: str | None = "20261206_embedder_minilm"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX ix_bugs_title_lower_trgm ON bugs USING gin (lower(title) gin_trgm_ops)"
    )
    op.drop_index("ix_bugs_title_trgm", table_name="bugs")


def downgrade() -> None:
    op.execute("CREATE INDEX ix_bugs_title_trgm ON bugs USING gin (title gin_trgm_ops)")
    op.drop_index("ix_bugs_title_lower_trgm", table_name="bugs")
