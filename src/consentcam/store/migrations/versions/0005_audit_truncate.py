"""The audit log refuses TRUNCATE on PostgreSQL too.

0001's append-only triggers fire FOR EACH ROW, which TRUNCATE bypasses: the whole chain could be
emptied and `audit verify` would then report an intact chain of nothing. A statement-level
BEFORE TRUNCATE trigger closes that (SQLite has no TRUNCATE; its DELETE triggers cover it).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit "
            "FOR EACH STATEMENT EXECUTE FUNCTION consentcam_audit_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_no_truncate ON audit")
