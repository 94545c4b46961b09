"""Initial schema, with the store-level privacy rules as triggers.

The triggers make the rules hold even for code (or a person with a SQL prompt) that bypasses the
library: no template without an active recognition consent covering the member's site (privacy
invariant 1), templates deleted in the same statement that withdraws their consent, and an audit
table that refuses updates and deletes.

Revision ID: 0001
Revises:
Create Date: 2026-11-26 14:25:27.436233
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    with op.batch_alter_table("audit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "tenants",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "notices",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("jurisdiction", sa.String(length=20), nullable=False),
        sa.Column("version", sa.String(length=40), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "jurisdiction", "version"),
    )
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notices_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "sites",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("jurisdiction", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "name"),
    )
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sites_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "users",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "name"),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_users_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "cameras",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("site_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("signage_attested", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("site_id", "name"),
    )
    with op.batch_alter_table("cameras", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cameras_site_id"), ["site_id"], unique=False)

    op.create_table(
        "members",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("site_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("profile", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_interaction_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_members_site_id"), ["site_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_members_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "consents",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("member_id", sa.String(length=32), nullable=False),
        sa.Column("site_id", sa.String(length=32), nullable=True),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("notice_id", sa.String(length=32), nullable=False),
        sa.Column("notice_sha256", sa.String(length=64), nullable=False),
        sa.Column("evidence_sha256", sa.String(length=64), nullable=False),
        sa.Column("given_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(), nullable=True),
        sa.Column("guardian_name", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
        ),
        sa.ForeignKeyConstraint(
            ["notice_id"],
            ["notices.id"],
        ),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consents_member_id"), ["member_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_consents_site_id"), ["site_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_consents_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "events",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("site_id", sa.String(length=32), nullable=False),
        sa.Column("camera_id", sa.String(length=32), nullable=True),
        sa.Column("member_id", sa.String(length=32), nullable=True),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["camera_id"],
            ["cameras.id"],
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
        ),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_events_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_events_member_id"), ["member_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_events_site_id"), ["site_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_events_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "footfall",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("camera_id", sa.String(length=32), nullable=False),
        sa.Column("hour", sa.DateTime(), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("exits", sa.Integer(), nullable=False),
        sa.Column("dwell_seconds", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["camera_id"],
            ["cameras.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("camera_id", "hour"),
    )
    with op.batch_alter_table("footfall", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_footfall_camera_id"), ["camera_id"], unique=False)

    op.create_table(
        "purchases",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("member_id", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("purchases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_purchases_member_id"), ["member_id"], unique=False)

    op.create_table(
        "templates",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("member_id", sa.String(length=32), nullable=False),
        sa.Column("consent_id", sa.String(length=32), nullable=False),
        sa.Column("model_id", sa.String(length=80), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("quality", sa.JSON(), nullable=False),
        sa.Column("source_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["consent_id"],
            ["consents.id"],
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("templates", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_templates_member_id"), ["member_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_templates_tenant_id"), ["tenant_id"], unique=False)
    for statement in TRIGGERS[op.get_bind().dialect.name]:
        op.execute(statement)


def downgrade() -> None:
    for statement in DROP_TRIGGERS[op.get_bind().dialect.name]:
        op.execute(statement)
    with op.batch_alter_table("templates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_templates_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_templates_member_id"))

    op.drop_table("templates")
    with op.batch_alter_table("purchases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_purchases_member_id"))

    op.drop_table("purchases")
    with op.batch_alter_table("footfall", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_footfall_camera_id"))

    op.drop_table("footfall")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_events_site_id"))
        batch_op.drop_index(batch_op.f("ix_events_member_id"))
        batch_op.drop_index(batch_op.f("ix_events_at"))

    op.drop_table("events")
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consents_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_consents_site_id"))
        batch_op.drop_index(batch_op.f("ix_consents_member_id"))

    op.drop_table("consents")
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_members_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_members_site_id"))

    op.drop_table("members")
    with op.batch_alter_table("cameras", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cameras_site_id"))

    op.drop_table("cameras")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_tenant_id"))

    op.drop_table("users")
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sites_tenant_id"))

    op.drop_table("sites")
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notices_tenant_id"))

    op.drop_table("notices")
    op.drop_table("tenants")
    with op.batch_alter_table("audit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_tenant_id"))

    op.drop_table("audit")


_NO_CONSENT = "consentcam: no active recognition consent covers this template"
_APPEND_ONLY = "consentcam: the audit log is append-only"

TRIGGERS = {
    "sqlite": [
        f"""
        CREATE TRIGGER templates_need_consent BEFORE INSERT ON templates
        WHEN NOT EXISTS (
            SELECT 1 FROM consents c JOIN members m ON m.id = NEW.member_id
            WHERE c.id = NEW.consent_id AND c.member_id = NEW.member_id
              AND c.tenant_id = NEW.tenant_id AND c.purpose = 'recognition'
              AND c.withdrawn_at IS NULL
              AND (c.expires_at IS NULL OR c.expires_at > strftime('%Y-%m-%d %H:%M:%f', 'now'))
              AND (c.site_id IS NULL OR c.site_id = m.site_id))
        BEGIN SELECT RAISE(ABORT, '{_NO_CONSENT}'); END
        """,
        """
        CREATE TRIGGER withdrawal_deletes_templates AFTER UPDATE OF withdrawn_at ON consents
        WHEN NEW.withdrawn_at IS NOT NULL
        BEGIN DELETE FROM templates WHERE consent_id = NEW.id; END
        """,
        f"""
        CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END
        """,
        f"""
        CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END
        """,
    ],
    "postgresql": [
        f"""
        CREATE FUNCTION consentcam_template_needs_consent() RETURNS trigger AS $$
        BEGIN
            IF NOT EXISTS (
                SELECT 1 FROM consents c JOIN members m ON m.id = NEW.member_id
                WHERE c.id = NEW.consent_id AND c.member_id = NEW.member_id
                  AND c.tenant_id = NEW.tenant_id AND c.purpose = 'recognition'
                  AND c.withdrawn_at IS NULL
                  AND (c.expires_at IS NULL OR c.expires_at > (now() AT TIME ZONE 'utc'))
                  AND (c.site_id IS NULL OR c.site_id = m.site_id)) THEN
                RAISE EXCEPTION '{_NO_CONSENT}';
            END IF;
            RETURN NEW;
        END $$ LANGUAGE plpgsql
        """,
        """
        CREATE TRIGGER templates_need_consent BEFORE INSERT ON templates
        FOR EACH ROW EXECUTE FUNCTION consentcam_template_needs_consent()
        """,
        """
        CREATE FUNCTION consentcam_withdrawal_deletes_templates() RETURNS trigger AS $$
        BEGIN
            IF NEW.withdrawn_at IS NOT NULL THEN
                DELETE FROM templates WHERE consent_id = NEW.id;
            END IF;
            RETURN NEW;
        END $$ LANGUAGE plpgsql
        """,
        """
        CREATE TRIGGER withdrawal_deletes_templates AFTER UPDATE OF withdrawn_at ON consents
        FOR EACH ROW EXECUTE FUNCTION consentcam_withdrawal_deletes_templates()
        """,
        f"""
        CREATE FUNCTION consentcam_audit_append_only() RETURNS trigger AS $$
        BEGIN RAISE EXCEPTION '{_APPEND_ONLY}'; END $$ LANGUAGE plpgsql
        """,
        """
        CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit
        FOR EACH ROW EXECUTE FUNCTION consentcam_audit_append_only()
        """,
    ],
}

DROP_TRIGGERS = {
    "sqlite": [
        "DROP TRIGGER IF EXISTS templates_need_consent",
        "DROP TRIGGER IF EXISTS withdrawal_deletes_templates",
        "DROP TRIGGER IF EXISTS audit_no_update",
        "DROP TRIGGER IF EXISTS audit_no_delete",
    ],
    "postgresql": [
        "DROP TRIGGER IF EXISTS templates_need_consent ON templates",
        "DROP TRIGGER IF EXISTS withdrawal_deletes_templates ON consents",
        "DROP TRIGGER IF EXISTS audit_append_only ON audit",
        "DROP FUNCTION IF EXISTS consentcam_template_needs_consent()",
        "DROP FUNCTION IF EXISTS consentcam_withdrawal_deletes_templates()",
        "DROP FUNCTION IF EXISTS consentcam_audit_append_only()",
    ],
}
