"""Counter-evidence for duplicate detection: each bug's symptom classes and file formats
(``bugs.symptom_slots``, see ``similarity.report_slots``), written at filing and editing;
existing bugs get theirs here (from the report and its pasted log excerpts, as filing
reads them).

Revision ID: 20261206_dupmodel_symptom_slots
Revises: 20261206_dups_semantic_embedding
Create Date: 2026-12-06
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from escalation_service.bugs.similarity import report_slots

revision: str = "20261206_dupmodel_symptom_slots"
down_revision: str | None = "20261206_dups_semantic_embedding"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "bugs",
        sa.Column(
            "symptom_slots",
            postgresql.ARRAY(sa.String(32)),
            nullable=False,
            server_default="{}",
        ),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.text("SELECT id, title, summary, steps_text, actual, attachments FROM bugs")
    )
    for row in rows.mappings().all():
        attachments = row["attachments"]
        if isinstance(attachments, str):
            attachments = json.loads(attachments)
        logs = [
            str(a.get("content"))
            for a in attachments or []
            if a.get("kind") == "log_excerpt" and a.get("content")
        ]
        slots = report_slots(
            title=row["title"],
            description=row["summary"] or "",
            steps=(row["steps_text"] or "").splitlines(),
            actual="\n".join([row["actual"] or "", *logs]),
        )
        bind.execute(
            sa.text("UPDATE bugs SET symptom_slots = :s WHERE id = :id"),
            {"s": slots, "id": row["id"]},
        )


def downgrade() -> None:
    op.drop_column("bugs", "symptom_slots")
