"""Recognition policy as data: templates record where their view came from, and each site has
the false-alert budget its admin chose.

- ``templates.origin``: ``enrolment`` (photos through the consent flow, a kiosk burst) or
  ``visit`` (a confirmed door visit or a verified claim, where the member's notice allows it).
  Rows written before are enrolment templates.
- ``held_views``: a door recognition's fused face view (sealed like a template) while staff
  have not answered the alert; confirmed, it may become a visit template, otherwise it is
  deleted.
- ``sites.false_alerts_per_1000``: the operating point, in expected false alerts per 1,000
  non-member visitors; empty means the model card's default.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "templates",
        sa.Column("origin", sa.String(16), nullable=False, server_default="enrolment"),
    )
    op.add_column("sites", sa.Column("false_alerts_per_1000", sa.Float(), nullable=True))
    op.create_table(
        "held_views",
        sa.Column("event_id", sa.String(32), nullable=False),
        sa.Column("tenant_id", sa.String(32), nullable=False),
        sa.Column("member_id", sa.String(32), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("quality", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"]),
        sa.PrimaryKeyConstraint("event_id"),
    )
    op.create_index("ix_held_views_tenant_id", "held_views", ["tenant_id"])
    op.create_index("ix_held_views_member_id", "held_views", ["member_id"])
    op.create_index("ix_held_views_created_at", "held_views", ["created_at"])


def downgrade() -> None:
    op.drop_table("held_views")
    op.drop_column("sites", "false_alerts_per_1000")
    op.drop_column("templates", "origin")
