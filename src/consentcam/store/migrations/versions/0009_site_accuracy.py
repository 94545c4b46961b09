"""The shop's accuracy from staff answers: each site's dismissal budget and an admin-applied
stricter threshold.

- ``sites.dismissal_budget``: the share of door alerts staff may dismiss before the site is
  reported over budget; empty means the default.
- ``sites.threshold_override``: a stricter track threshold applied by an admin (audited) from the
  distances of confirmed and dismissed alerts; empty means the model card's.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sites", sa.Column("dismissal_budget", sa.Float(), nullable=True))
    op.add_column("sites", sa.Column("threshold_override", sa.Float(), nullable=True))


def downgrade() -> None:
    op.drop_column("sites", "threshold_override")
    op.drop_column("sites", "dismissal_budget")
