"""Duplicate detection learns from agents' verdicts (decision 0053): ``duplicate_verdicts``
(an agent's judgement of a pair of bugs, with the pair's signals), ``duplicate_models``
(every refit, versioned by the data it saw) and the model that auto-linked a ticket.

Revision ID: 20261207_dup_verdicts
Revises: 20261207_dup_search_speed
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20261207_dup_verdicts"
down_revision: str | None = "20261207_dup_search_speed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("bug_links", sa.Column("linked_by_model", sa.String(64), nullable=True))
    op.execute("CREATE SEQUENCE duplicate_verdict_revisions")
    op.create_table(
        "duplicate_verdicts",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("bug_a_id", sa.Uuid(), sa.ForeignKey("bugs.id"), nullable=False),
        sa.Column("bug_b_id", sa.Uuid(), sa.ForeignKey("bugs.id"), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("signals", postgresql.JSONB(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("judged_by", sa.String(200), nullable=True),
        sa.Column("judged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("bug_a_id", "bug_b_id"),
    )
    op.create_index("ix_duplicate_verdicts_bug_b_id", "duplicate_verdicts", ["bug_b_id"])
    op.create_index("ix_duplicate_verdicts_revision", "duplicate_verdicts", ["revision"])
    op.create_table(
        "duplicate_models",
        sa.Column("version", sa.String(64), primary_key=True),
        sa.Column("seq", sa.BigInteger(), sa.Identity(), nullable=False, unique=True),
        sa.Column("weights", postgresql.JSONB(), nullable=False),
        sa.Column("intercept", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("precision", sa.Float(), nullable=False),
        sa.Column("recall", sa.Float(), nullable=False),
        sa.Column("corpus_pairs", sa.Integer(), nullable=False),
        sa.Column("verdicts", sa.Integer(), nullable=False),
        sa.Column("verdicts_through", sa.BigInteger(), nullable=False),
        sa.Column("accepted", sa.Boolean(), nullable=False),
        sa.Column("rejection", sa.Text(), nullable=True),
        sa.Column("fit_seconds", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_duplicate_models_accepted_seq", "duplicate_models", ["accepted", "seq"])


def downgrade() -> None:
    op.drop_table("duplicate_models")
    op.drop_table("duplicate_verdicts")
    op.execute("DROP SEQUENCE duplicate_verdict_revisions")
    op.drop_column("bug_links", "linked_by_model")
