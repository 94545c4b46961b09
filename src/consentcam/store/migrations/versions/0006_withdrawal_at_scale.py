"""Withdrawal at chain scale: an index for the trigger that deletes a withdrawn consent's
templates, and gallery notifications that name the member.

At a million templates the withdrawal trigger's ``DELETE FROM templates WHERE consent_id = ...``
scanned the whole table (about half a second a withdrawal, measured by bench_scale.py). And a
notification that named only the site made every listening worker re-read the site's gallery
(seconds at 100,000 members) before it could stop recognising the withdrawn member; with the
member named, a worker drops that member's templates at once and reconciles afterwards.
The payload is ``<site id>:<member id>`` (both 32 hex characters); listeners that read only the
site id take the part before the colon.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BUMP = """
    CREATE OR REPLACE FUNCTION consentcam_gallery_bump() RETURNS trigger AS $$
    DECLARE
        site text;
        member text := (CASE WHEN TG_OP = 'DELETE' THEN OLD.member_id ELSE NEW.member_id END);
    BEGIN
        SELECT m.site_id INTO site FROM members m WHERE m.id = member;
        IF site IS NOT NULL THEN
            INSERT INTO gallery_versions (site_id, version) VALUES (site, 1)
            ON CONFLICT (site_id) DO UPDATE SET version = gallery_versions.version + 1;
            PERFORM pg_notify('consentcam_gallery', {payload});
        END IF;
        RETURN NULL;
    END $$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    op.create_index("ix_templates_consent_id", "templates", ["consent_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(BUMP.format(payload="site || ':' || member"))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(BUMP.format(payload="site"))
    op.drop_index("ix_templates_consent_id", table_name="templates")
