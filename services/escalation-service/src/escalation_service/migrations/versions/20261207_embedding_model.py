"""Every embedding names its encoder (decision 0057): ``bugs.embedding_model``, and the
encoder behind the signals of a verdict (``duplicate_verdicts.encoder``) and of a refit
(``duplicate_models.encoder``).

The encoder changes (the fine-tuned all-MiniLM-L6-v2, decision 0055): a stored vector is
only comparable with one of the same encoder. Existing rows were written by the encoder of
decision 0041 (``all-minilm-l6-v2-q``) and are labelled so; the duplicate search scores a
candidate of another encoder as not embedded (semantic 0), serving ignores refits of
another encoder, and ``escalation-service reembed`` (run by ``escalation-service migrate``
after this upgrade, and by its CronJob) re-embeds every bug not of the current encoder.
The re-embedding is not done here: it needs the model and minutes of CPU on a large table,
and a command can be resumed in batches where a migration is one transaction.

Revision ID: 20261207_embedding_model
Revises: 20261207_dup_verdicts
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261207_embedding_model"
down_revision: str | None = "20261207_dup_verdicts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PREVIOUS = "all-minilm-l6-v2-q"
"""The encoder of every embedding, verdict and refit stored before (decision 0041)."""


def upgrade() -> None:
    op.add_column("bugs", sa.Column("embedding_model", sa.String(64), nullable=True))
    op.execute(
        sa.text("UPDATE bugs SET embedding_model = :m WHERE embedding IS NOT NULL").bindparams(
            m=PREVIOUS
        )
    )
    for table in ("duplicate_verdicts", "duplicate_models"):
        # existing rows: the previous encoder; new rows always name theirs (no default)
        op.add_column(
            table,
            sa.Column("encoder", sa.String(64), nullable=False, server_default=PREVIOUS),
        )
        op.alter_column(table, "encoder", server_default=None)


def downgrade() -> None:
    op.drop_column("duplicate_models", "encoder")
    op.drop_column("duplicate_verdicts", "encoder")
    op.drop_column("bugs", "embedding_model")
