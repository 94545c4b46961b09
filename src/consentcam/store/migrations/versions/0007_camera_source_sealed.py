"""Camera stream credentials sealed: a stream URL with a password or a query (RTSP cameras'
user and password, tokens) is stored masked in ``cameras.source`` and whole in the new
``cameras.source_sealed``, encrypted under the store key like templates and webhook secrets.

Rows written before keep their URL in clear until ``consentcam keys rotate`` seals them (a
migration has no key).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("cameras", sa.Column("source_sealed", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    op.drop_column("cameras", "source_sealed")
