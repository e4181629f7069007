"""Duplicate detection's embedding becomes the contextual all-MiniLM-L6-v2 (384 dims, decision
0041): every bug's ``bugs.embedding`` is computed again here, by the encoder filing uses.

Why in the migration (a backfill) and not in a separate command: the semantic signal is a
dot product of the stored vector and the new report's, so a bug still holding the former
static vector (256 dims) would be compared with a vector of another model and size - a
meaningless score, silently. Re-embedding in the step that switches the model means the
service never runs against a mixed column. Only rows not yet at 384 dims (or NULL) are
embedded, so a re-run costs nothing; a few ms of CPU per bug (the model is loaded only
when there is a row to embed: a fresh database needs no model).

Revision ID: 20261206_embedder_minilm
Revises: 20261206_dupmodel_symptom_slots
Create Date: 2026-12-06
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from escalation_service.bugs.embedding import DIMENSIONS, embed
from escalation_service.bugs.similarity import document

revision: str = "20261206_embedder_minilm"
down_revision: str | None = "20261206_dupmodel_symptom_slots"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT id, title, summary, steps_text, actual, attachments FROM bugs"
            " WHERE embedding IS NULL OR cardinality(embedding) <> :n"
        ),
        {"n": DIMENSIONS},
    )
    for row in rows.mappings().all():
        attachments = row["attachments"]
        if isinstance(attachments, str):
            attachments = json.loads(attachments)
        # as filing reads a report: pasted log excerpts are part of the actual result
        logs = [
            str(a.get("content"))
            for a in attachments or []
            if a.get("kind") == "log_excerpt" and a.get("content")
        ]
        text = document(
            title=row["title"],
            description=row["summary"] or "",
            steps=(row["steps_text"] or "").splitlines(),
            actual="\n".join([row["actual"] or "", *logs]),
        )
        bind.execute(
            sa.text("UPDATE bugs SET embedding = :e WHERE id = :id"),
            {"e": embed(text), "id": row["id"]},
        )


def downgrade() -> None:
    # the former static model's vectors are not computed here: the semantic signal scores
    # 0 for every bug until it is embedded again (the rest of the score is unchanged)
    op.execute("UPDATE bugs SET embedding = NULL")
