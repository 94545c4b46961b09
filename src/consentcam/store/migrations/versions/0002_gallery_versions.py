"""Gallery change counters, so camera workers refresh their in-memory galleries within seconds.

Every insert or delete of a template, and every change to a consent's withdrawal or expiry,
bumps its site's counter in the same transaction. Workers poll the counter (a one-row read);
on PostgreSQL the triggers also send NOTIFY consentcam_gallery with the site id, for listeners.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gallery_versions",
        sa.Column("site_id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"]),
        sa.PrimaryKeyConstraint("site_id"),
    )
    for statement in TRIGGERS[op.get_bind().dialect.name]:
        op.execute(statement)


def downgrade() -> None:
    for statement in DROP_TRIGGERS[op.get_bind().dialect.name]:
        op.execute(statement)
    op.drop_table("gallery_versions")


def _sqlite_bump(name: str, event: str, member: str) -> str:
    return f"""
        CREATE TRIGGER {name} {event}
        BEGIN
            INSERT INTO gallery_versions (site_id, version)
            SELECT site_id, 1 FROM members WHERE id = {member}
            ON CONFLICT (site_id) DO UPDATE SET version = version + 1;
        END
    """


TRIGGERS = {
    "sqlite": [
        _sqlite_bump("gallery_bump_insert", "AFTER INSERT ON templates", "NEW.member_id"),
        _sqlite_bump("gallery_bump_delete", "AFTER DELETE ON templates", "OLD.member_id"),
        _sqlite_bump(
            "gallery_bump_consent",
            "AFTER UPDATE OF withdrawn_at, expires_at ON consents",
            "NEW.member_id",
        ),
    ],
    "postgresql": [
        """
        CREATE FUNCTION consentcam_gallery_bump() RETURNS trigger AS $$
        DECLARE
            site text;
        BEGIN
            SELECT m.site_id INTO site FROM members m
            WHERE m.id = (CASE WHEN TG_OP = 'DELETE' THEN OLD.member_id ELSE NEW.member_id END);
            IF site IS NOT NULL THEN
                INSERT INTO gallery_versions (site_id, version) VALUES (site, 1)
                ON CONFLICT (site_id) DO UPDATE SET version = gallery_versions.version + 1;
                PERFORM pg_notify('consentcam_gallery', site);
            END IF;
            RETURN NULL;
        END $$ LANGUAGE plpgsql
        """,
        """
        CREATE TRIGGER gallery_bump_templates AFTER INSERT OR DELETE ON templates
        FOR EACH ROW EXECUTE FUNCTION consentcam_gallery_bump()
        """,
        """
        CREATE TRIGGER gallery_bump_consent AFTER UPDATE OF withdrawn_at, expires_at ON consents
        FOR EACH ROW EXECUTE FUNCTION consentcam_gallery_bump()
        """,
    ],
}

DROP_TRIGGERS = {
    "sqlite": [
        "DROP TRIGGER IF EXISTS gallery_bump_insert",
        "DROP TRIGGER IF EXISTS gallery_bump_delete",
        "DROP TRIGGER IF EXISTS gallery_bump_consent",
    ],
    "postgresql": [
        "DROP TRIGGER IF EXISTS gallery_bump_templates ON templates",
        "DROP TRIGGER IF EXISTS gallery_bump_consent ON consents",
        "DROP FUNCTION IF EXISTS consentcam_gallery_bump()",
    ],
}
