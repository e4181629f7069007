"""The scored triage classifier: confidence, model version and evidence on each ticket; the
agents' corrections as labelled examples; the fitted model versions; the seeded keyword
rules switched off (the classifier replaces them; they stay, disabled, as a reference and
can be switched back on as overrides).

Revision ID: 20261206_judge_triage_model
Revises: 20261206_access_template_review
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20261206_judge_triage_model"
down_revision: str | None = "20261206_access_template_review"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEEDED_RULES = [
    "access: MFA",
    "access: activation",
    "access: inactive account",
    "access: login",
    "billing",
    "subscription",
    "compliance guidance",
    "sales",
    "onboarding",
    "potential bug",
    "feature request",
    "platform question",
    "other (catch-all)",
]


def upgrade() -> None:
    op.add_column("tickets", sa.Column("triage_confidence", sa.Float(), nullable=True))
    op.add_column("tickets", sa.Column("triage_model_version", sa.String(64), nullable=True))
    op.add_column("tickets", sa.Column("triage_evidence", postgresql.JSONB(), nullable=True))
    op.create_table(
        "triage_examples",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("predicted_label", sa.String(64), nullable=True),
        sa.Column("model_version", sa.String(64), nullable=True),
        sa.Column("labelled_by", sa.String(200), nullable=True),
        sa.Column("labelled_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_triage_examples")),
        sa.UniqueConstraint("ticket_id", name=op.f("uq_triage_examples_ticket_id")),
        sa.UniqueConstraint("seq", name=op.f("uq_triage_examples_seq")),
    )
    op.create_table(
        "triage_models",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("examples_through", sa.BigInteger(), nullable=False),
        sa.Column("corpus_examples", sa.Integer(), nullable=False),
        sa.Column("agent_examples", sa.Integer(), nullable=False),
        sa.Column("fit_seconds", sa.Float(), nullable=False),
        sa.Column("trained_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_triage_models")),
        sa.UniqueConstraint("version", name=op.f("uq_triage_models_version")),
    )
    op.execute(
        sa.text(
            "UPDATE triage_rules SET enabled = false, version = version + 1"
            " WHERE name = ANY(:names) AND enabled"
        ).bindparams(names=SEEDED_RULES)
    )


def downgrade() -> None:
    op.execute(
        sa.text(
            "UPDATE triage_rules SET enabled = true, version = version + 1"
            " WHERE name = ANY(:names) AND NOT enabled"
        ).bindparams(names=SEEDED_RULES)
    )
    op.drop_table("triage_models")
    op.drop_table("triage_examples")
    op.drop_column("tickets", "triage_evidence")
    op.drop_column("tickets", "triage_model_version")
    op.drop_column("tickets", "triage_confidence")
