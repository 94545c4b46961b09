"""Data-subject rectification and erasure: a corrected record, audited without its values; an
erasure that leaves nothing about the member but the audit log's entries naming their id."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from consentcam.audit.chain import verify
from consentcam.consent.consents import record_consent
from consentcam.consent.context import Ledger
from consentcam.consent.enrolment import enroll, identify
from consentcam.consent.members import add_member, rectify_member
from consentcam.consent.purchases import import_purchases
from consentcam.consent.rights import erase_member, export_member
from consentcam.consent.sites import add_camera
from consentcam.errors import InputError, NotFound
from consentcam.events.claims import open_claim
from consentcam.events.webhooks import add_webhook
from consentcam.store.db import SQLITE_FILE
from consentcam.store.models import AuditEntry, Member
from tests.support.events import Place, place, record
from tests.support.leaks import rows_mentioning

NAME = "Zelda Quintessa"
PROFILE = {"tier": "gold", "note": "prefers oat milk"}


def _audit(ledger: Ledger, action: str) -> list[AuditEntry]:
    with ledger.store.transaction() as s:
        return list(
            s.execute(select(AuditEntry).where(AuditEntry.action == action)).scalars().all()
        )


def _member_with_everything(ledger: Ledger, photos: Path, evidence: Path, tmp: Path) -> Place:
    """A member with a profile, consents to recognition and to pictures for staff, a template, a
    reference portrait, a purchase, a claim and an event with a pending webhook delivery."""
    where = place(ledger)
    member = add_member(ledger, where.site_name, NAME, PROFILE)
    where = replace(where, member_id=member.id)
    for purpose in ("recognition", "portrait"):
        record_consent(ledger, member.id, purpose=purpose, evidence=evidence, notice_version="v3")
    enroll(ledger, member.id, [photos / "obama.jpg"], portrait=True)
    pos = tmp / "pos.csv"
    pos.write_text(
        f"member_id,time,items,amount,currency\n{member.id},2026-11-30T10:00:00Z,tea,2.50,EUR\n"
    )
    import_purchases(ledger, pos)
    add_camera(ledger, where.site_name, "kiosk", "k.mp4", "verify", True)
    open_claim(ledger, "kiosk", member.id)
    add_webhook(ledger, "https://staff.example.com/hook")
    record(ledger, where, name=NAME, profile=PROFILE)
    return where


def test_erasure_leaves_nothing_but_the_audit_trail(
    ledger: Ledger, photos: Path, evidence: Path, tmp_path: Path
) -> None:
    other = add_member(ledger, place(ledger, "annex").site_name, "Other Member")
    where = _member_with_everything(ledger, photos, evidence, tmp_path)
    assert identify(ledger, photos / "obama2.jpg", where.site_name).member_id == where.member_id

    receipt = erase_member(ledger, where.member_id)

    assert receipt.member_id == where.member_id and receipt.withdrawn_consents == 2
    assert receipt.deleted.as_dict() == {
        "templates": 1,
        "pictures": 1,
        "webhook_deliveries": 1,
        "stream_entries": 1,
        "events": 1,
        "claims": 1,
        "purchases": 1,
        "consents": 2,
    }
    assert receipt.by == "test:staff" and receipt.site == where.site_name
    # Nothing names the member any more, by name, profile or id, outside the audit log.
    leftovers = rows_mentioning(ledger, NAME, "oat milk", where.member_id)
    assert leftovers and all(row.startswith("audit:") for row in leftovers), leftovers
    assert not rows_mentioning(ledger, NAME, "oat milk")  # the audit log included
    with pytest.raises(NotFound):
        export_member(ledger, where.member_id)
    assert identify(ledger, photos / "obama2.jpg", where.site_name).member_id is None
    with pytest.raises(NotFound):
        erase_member(ledger, where.member_id)  # once only

    (entry,) = _audit(ledger, "member.erase")
    assert entry.subject == where.member_id and entry.seq == receipt.audit_entry
    assert entry.details == {"withdrawn_consents": 2, "deleted": receipt.deleted.as_dict()}
    with ledger.store.transaction() as s:
        assert verify(s).ok
        assert s.get(Member, other.id) is not None  # others untouched


def test_another_tenant_cannot_erase_or_rectify(ledger: Ledger) -> None:
    where = place(ledger)
    globex = replace(ledger, tenant="globex")
    with pytest.raises(NotFound):
        erase_member(globex, where.member_id)
    with pytest.raises(NotFound):
        rectify_member(globex, where.member_id, name="Taken Over")
    assert export_member(ledger, where.member_id).member.name == "Member at flagship"


def test_rectification_changes_the_record_and_audits_only_which_fields(ledger: Ledger) -> None:
    where = place(ledger)
    member = rectify_member(ledger, where.member_id, name=NAME)
    assert member.name == NAME
    rectify_member(ledger, where.member_id, profile_fields=PROFILE)
    stored = export_member(ledger, where.member_id).member
    assert (stored.name, stored.profile) == (NAME, PROFILE)
    entries = _audit(ledger, "member.rectify")
    assert [e.details for e in entries] == [{"fields": ["name"]}, {"fields": ["profile"]}]
    rectify_member(ledger, where.member_id, name=NAME)  # no change: audited as such
    assert _audit(ledger, "member.rectify")[-1].details == {"fields": []}
    # The values live in the member row only, never in the append-only log.
    assert [r.split(":")[0] for r in rows_mentioning(ledger, NAME, "oat milk")] == ["members"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({}, "nothing to rectify"),
        ({"name": "  "}, "member name"),
        ({"name": "bell\x07"}, "member name"),
        ({"profile_fields": {"x": {1, 2}}}, "not storable as JSON"),
    ],
)
def test_bad_rectifications_change_nothing(
    ledger: Ledger, changes: dict[str, object], message: str
) -> None:
    where = place(ledger)
    before = export_member(ledger, where.member_id).member
    with pytest.raises(InputError, match=message):
        rectify_member(ledger, where.member_id, **changes)  # type: ignore[arg-type]
    assert export_member(ledger, where.member_id).member == before
    assert _audit(ledger, "member.rectify") == []


def test_an_erased_member_is_not_left_in_the_sqlite_files(
    ledger: Ledger, photos: Path, evidence: Path, tmp_path: Path
) -> None:
    if ledger.settings.database_url:
        pytest.skip("SQLite's files; PostgreSQL drops dead rows at vacuum (threat model, risk 13)")
    where = _member_with_everything(ledger, photos, evidence, tmp_path)
    erase_member(ledger, where.member_id)
    database = ledger.settings.data_dir / SQLITE_FILE
    files = [database, database.with_name(database.name + "-wal")]
    written = b"".join(f.read_bytes() for f in files if f.exists())
    assert written  # the store is there
    # Deleted content is zeroed (secure_delete) and the log's old page images are gone.
    assert NAME.encode() not in written and b"oat milk" not in written
