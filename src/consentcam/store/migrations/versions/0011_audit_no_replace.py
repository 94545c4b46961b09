"""The audit log refuses ``INSERT OR REPLACE`` on SQLite.

SQLite's REPLACE conflict resolution (``INSERT OR REPLACE``, ``REPLACE INTO``) deletes the row
holding the same seq and inserts the new one without firing DELETE triggers (unless
``recursive_triggers`` is on), so 0001's append-only triggers let an entry be overwritten; only
``audit verify`` would notice (issue 13, item 7). A BEFORE INSERT trigger runs before the conflict
is resolved and refuses any insert whose seq is already taken. Upserts (``ON CONFLICT DO
UPDATE``) are refused on both backends by the existing BEFORE UPDATE triggers, and PostgreSQL has
no REPLACE.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_APPEND_ONLY = "consentcam: the audit log is append-only"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE TRIGGER audit_no_replace BEFORE INSERT ON audit "
            "WHEN EXISTS (SELECT 1 FROM audit WHERE seq = NEW.seq) "
            f"BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_no_replace")
