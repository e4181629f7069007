"""Four eyes on templates: who wrote each version, who approved it and when.

Revision ID: 20261206_access_template_review
Revises: 0009
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261206_access_template_review"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("templates", sa.Column("created_by", sa.String(200), nullable=True))
    op.add_column("templates", sa.Column("approved_by", sa.String(200), nullable=True))
    op.add_column("templates", sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("templates", "approved_at")
    op.drop_column("templates", "approved_by")
    op.drop_column("templates", "created_by")
