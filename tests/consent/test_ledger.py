from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy import func, select

from consentcam.audit.chain import verify
from consentcam.consent.consents import record_consent
from consentcam.consent.context import Ledger
from consentcam.consent.enrolment import enroll, identify
from consentcam.consent.members import add_member
from consentcam.consent.rights import export_member, withdraw
from consentcam.consent.sites import add_camera, add_site
from consentcam.errors import ConsentError, InputError, NotFound, PolicyError
from consentcam.store.models import AuditEntry, Consent, Template, new_id, utcnow
from tests.support.seed import enrolled_member


def _count(ledger: Ledger, model: type) -> int:
    with ledger.store.transaction() as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


def _enrolled_member(ledger: Ledger, photos: Path, evidence: Path, site: str = "flagship") -> str:
    add_site(ledger, site, "eu")
    return enrolled_member(ledger, site, "Sample Member", photos / "obama.jpg", evidence)


def test_enrol_identify_withdraw_end_to_end(ledger: Ledger, photos: Path, evidence: Path) -> None:
    member_id = _enrolled_member(ledger, photos, evidence)
    hit = identify(ledger, photos / "obama2.jpg", "flagship")
    assert hit.member_id == member_id and hit.distance is not None
    assert hit.distance <= hit.threshold
    assert identify(ledger, photos / "biden.jpg", "flagship").member_id is None

    receipt = withdraw(ledger, member_id)
    assert receipt.deleted_templates == 1 and receipt.withdrawn_consents == 1
    assert receipt.by == "test:staff"
    assert _count(ledger, Template) == 0
    assert identify(ledger, photos / "obama2.jpg", "flagship").member_id is None
    with ledger.store.transaction() as s:
        last = s.execute(select(AuditEntry).order_by(AuditEntry.seq.desc())).scalars().first()
        assert last is not None and last.action == "consent.withdraw"
        assert last.seq == receipt.audit_entry
        assert verify(s).ok


def test_enrolment_without_consent_is_refused(ledger: Ledger, photos: Path) -> None:
    add_site(ledger, "flagship", "eu")
    member = add_member(ledger, "flagship", "No Consent")
    with pytest.raises(ConsentError, match="no active consent for purpose 'recognition'"):
        enroll(ledger, member.id, [photos / "obama.jpg"])
    assert _count(ledger, Template) == 0


def test_store_refuses_a_template_that_bypasses_the_library(
    ledger: Ledger, photos: Path, evidence: Path
) -> None:
    """Privacy invariant 1 holds in the database itself, not only in the API."""
    add_site(ledger, "flagship", "eu")
    member = add_member(ledger, "flagship", "Bypass")
    consent = record_consent(ledger, member.id, purpose="recognition", evidence=evidence)
    row = {
        "id": new_id(),
        "tenant_id": member.tenant_id,
        "member_id": member.id,
        "consent_id": consent.id,
        "model_id": "m",
        "sealed": b"x",
        "key_id": "k",
        "quality": "{}",
        "source_sha256": "0" * 64,
        "created_at": "2026-01-01 00:00:00",
    }
    insert = sa.text(
        "INSERT INTO templates (id, tenant_id, member_id, consent_id, model_id, sealed, key_id,"
        " quality, source_sha256, created_at) VALUES (:id, :tenant_id, :member_id, :consent_id,"
        " :model_id, :sealed, :key_id, CAST(:quality AS JSON), :source_sha256,"
        " CAST(:created_at AS TIMESTAMP))"
    )
    with ledger.store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE consents SET withdrawn_at = '2026-01-01 00:00:00'"))
    with (
        pytest.raises(sa.exc.DatabaseError, match="no active recognition consent"),
        ledger.store.engine.begin() as conn,
    ):
        conn.execute(insert, row)
    with ledger.store.engine.begin() as conn:  # an expired consent is refused too
        conn.execute(sa.text("UPDATE consents SET withdrawn_at = NULL, expires_at = '2001-01-01'"))
    with (
        pytest.raises(sa.exc.DatabaseError, match="no active recognition consent"),
        ledger.store.engine.begin() as conn,
    ):
        conn.execute(insert, row)
    assert _count(ledger, Template) == 0


def test_consent_scope_and_expiry(ledger: Ledger, photos: Path, evidence: Path) -> None:
    add_site(ledger, "flagship", "eu")
    add_site(ledger, "outlet", "eu")
    member = add_member(ledger, "flagship", "Scoped")
    with ledger.store.transaction() as s:  # a consent recorded for another site does not count
        other = s.execute(select(Consent)).scalar()
        assert other is None
    consent = record_consent(ledger, member.id, purpose="recognition", evidence=evidence)
    with ledger.store.transaction() as s:
        s.get(Consent, consent.id).site_id = s.execute(  # type: ignore[union-attr]
            sa.text("SELECT id FROM sites WHERE name = 'outlet'")
        ).scalar_one()
    with pytest.raises(ConsentError):
        enroll(ledger, member.id, [photos / "obama.jpg"])
    with pytest.raises(InputError, match="in the past"):
        record_consent(
            ledger,
            member.id,
            purpose="recognition",
            evidence=evidence,
            expires=utcnow() - dt.timedelta(days=1),
        )
    record_consent(ledger, member.id, purpose="recognition", evidence=evidence, chain_scope=True)
    assert enroll(ledger, member.id, [photos / "obama.jpg"]).templates == 1


def test_enrolment_is_all_or_nothing(
    ledger: Ledger, photos: Path, evidence: Path, tmp_path: Path
) -> None:
    from PIL import Image

    add_site(ledger, "flagship", "eu")
    member = add_member(ledger, "flagship", "Partial")
    record_consent(ledger, member.id, purpose="recognition", evidence=evidence)
    blank = tmp_path / "blank.png"
    Image.new("RGB", (300, 300), (120, 120, 120)).save(blank)
    before = _count(ledger, AuditEntry)
    with pytest.raises(InputError, match="no face found"):
        enroll(ledger, member.id, [photos / "obama.jpg", blank])
    with pytest.raises(InputError, match="2 faces found"):
        enroll(ledger, member.id, [photos / "two_people.jpg"])
    assert _count(ledger, Template) == 0 and _count(ledger, AuditEntry) == before


def test_profiles_gate_modes_and_signage(ledger: Ledger, photos: Path, evidence: Path) -> None:
    add_site(ledger, "eu-store", "eu")
    add_site(ledger, "portland", "us-portland")
    add_site(ledger, "shanghai", "cn")
    with pytest.raises(PolicyError, match="attest that the signs are up"):
        add_camera(ledger, "eu-store", "door", "cam.mp4", "door", signage_attested=False)
    assert (
        add_camera(ledger, "eu-store", "door", "cam.mp4", "door", signage_attested=True).mode
        == "door"
    )
    assert add_camera(ledger, "eu-store", "counter", "cam.mp4", "count", signage_attested=False)
    with pytest.raises(PolicyError, match="not allowed under the us-portland profile"):
        add_camera(ledger, "portland", "kiosk", "cam.mp4", "verify", signage_attested=True)
    with pytest.raises(PolicyError, match="not allowed under the cn profile"):
        add_camera(ledger, "shanghai", "door", "cam.mp4", "door", signage_attested=True)
    member = add_member(ledger, "portland", "Portland Member")
    record_consent(ledger, member.id, purpose="recognition", evidence=evidence)
    with pytest.raises(PolicyError, match="not allowed under the us-portland"):
        enroll(ledger, member.id, [photos / "obama.jpg"])


def test_export_holds_everything_but_biometrics_and_is_audited(
    ledger: Ledger, photos: Path, evidence: Path
) -> None:
    member_id = _enrolled_member(ledger, photos, evidence)
    document = export_member(ledger, member_id)
    assert document.member.id == member_id
    assert len(document.consents) == 1 and len(document.templates) == 1
    assert "sealed" not in document.as_dict()["templates"][0]
    with ledger.store.transaction() as s:
        last = s.execute(select(AuditEntry).order_by(AuditEntry.seq.desc())).scalars().first()
    assert last is not None and last.action == "member.export"
    assert last.actor == "test:staff" and last.subject == member_id  # privacy invariant 5


def test_database_file_holds_no_plaintext_embedding(
    ledger: Ledger, photos: Path, evidence: Path
) -> None:
    """Privacy invariant 6: neither the raw nor the tenant-transformed vector is in the file."""
    from consentcam.store import crypto
    from consentcam.vision.faces import file_faces

    _enrolled_member(ledger, photos, evidence)
    raw = file_faces(photos / "obama.jpg")[0].vector
    with ledger.store.transaction() as s:
        tenant = s.execute(sa.text("SELECT id FROM tenants")).scalar_one()
    protected = crypto.protect(crypto.tenant_transform(ledger.keys.key, tenant), raw[None, :])[0]
    data = _database_dump(ledger)
    assert len(data) > 10_000
    for vector in (raw, protected):
        for dtype in (np.float32, np.float64):
            chunk = np.asarray(vector, dtype=dtype).tobytes()[:32]  # any 8 leading values
            assert chunk not in data


def test_unknown_names_are_clear_errors(ledger: Ledger, photos: Path) -> None:
    with pytest.raises(NotFound, match="no site named 'nowhere'"):
        add_member(ledger, "nowhere", "X")
    with pytest.raises(NotFound, match="no member"):
        enroll(ledger, "0" * 32, [photos / "obama.jpg"])
    with pytest.raises(InputError, match="unknown jurisdiction"):
        add_site(ledger, "x", "mars")


def _database_dump(ledger: Ledger) -> bytes:
    """Every byte the database holds: the SQLite files, or a full pg_dump."""
    url = ledger.store.engine.url
    ledger.store.engine.dispose()
    if url.get_backend_name() == "sqlite":
        return b"".join(p.read_bytes() for p in ledger.settings.data_dir.glob("consentcam.db*"))
    libpq = url.set(drivername="postgresql").render_as_string(hide_password=False)
    return subprocess.run(["pg_dump", "--dbname", libpq], capture_output=True, check=True).stdout


def test_profiles_require_written_release_and_guardian_consent(
    ledger: Ledger, evidence: Path
) -> None:
    add_site(ledger, "chicago", "us-il")
    add_site(ledger, "beijing", "cn")
    member = add_member(ledger, "chicago", "Illinois Member")
    with pytest.raises(ConsentError, match="signed written release"):
        record_consent(ledger, member.id, purpose="recognition", evidence=evidence)
    assert (
        record_consent(
            ledger, member.id, purpose="recognition", evidence=evidence, channel="written"
        ).channel
        == "written"
    )

    child = add_member(ledger, "beijing", "Minor")
    with pytest.raises(ConsentError, match="under 14 need a parent's or guardian's consent"):
        record_consent(ledger, child.id, purpose="recognition", evidence=evidence, age=12)
    consent = record_consent(
        ledger, child.id, purpose="recognition", evidence=evidence, age=12, guardian_name="Parent"
    )
    assert consent.guardian_name == "Parent"
    assert record_consent(ledger, child.id, purpose="recognition", evidence=evidence, age=15)
    with pytest.raises(InputError, match="unknown channel"):
        record_consent(ledger, child.id, purpose="recognition", evidence=evidence, channel="fax")
    with ledger.store.transaction() as s:
        assert s.execute(select(func.count()).select_from(Consent)).scalar_one() == 3


def test_identifying_a_non_member_stores_nothing(
    ledger: Ledger, photos: Path, evidence: Path
) -> None:
    """Privacy invariant 2 for still photos: an unknown face leaves no row, no audit entry and
    no trace of its embedding in the database."""
    from consentcam.vision.faces import file_faces

    _enrolled_member(ledger, photos, evidence)
    counts = [_count(ledger, m) for m in (AuditEntry, Template, Consent)]
    assert identify(ledger, photos / "biden.jpg", "flagship").member_id is None
    assert [_count(ledger, m) for m in (AuditEntry, Template, Consent)] == counts
    probe = file_faces(photos / "biden.jpg")[0].vector
    assert np.asarray(probe, np.float32).tobytes()[:32] not in _database_dump(ledger)


def test_every_profile_gates_every_mode(ledger: Ledger) -> None:
    from consentcam.consent.profiles import MODES, PROFILES

    for code, rules in PROFILES.items():
        add_site(ledger, code, code)
        for mode in MODES:
            if mode in rules.allowed_modes:
                assert add_camera(ledger, code, mode, "cam.mp4", mode, signage_attested=True)
            else:
                with pytest.raises(PolicyError, match=f"not allowed under the {code} profile"):
                    add_camera(ledger, code, mode, "cam.mp4", mode, signage_attested=True)
        assert rules.allowed_modes <= set(MODES) and "count" in rules.allowed_modes


def test_audit_entries_name_the_site_member_and_consent_they_record(
    ledger: Ledger, evidence: Path
) -> None:
    """The audit trail is the evidence a regulator reads: each entry names the row it is about
    (these ids were once read before the row had one, and the entries named nobody)."""
    site = add_site(ledger, "flagship", "eu")
    member = add_member(ledger, "flagship", "Member")
    consent = record_consent(ledger, member.id, purpose="recognition", evidence=evidence)
    with ledger.store.transaction() as s:
        entries = {e.action: e for e in s.execute(select(AuditEntry)).scalars()}
        stored = s.execute(select(Consent.id).where(Consent.member_id == member.id)).scalar_one()
    assert entries["site.add"].subject == site.id is not None
    assert entries["member.add"].subject == member.id is not None
    assert entries["consent.record"].details["consent"] == consent.id == stored
