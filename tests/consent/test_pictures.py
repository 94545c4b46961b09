"""Pictures of members for staff (consent/pictures.py, invariant 8): a reference portrait only
under its own consent, sealed, every view audited, given back in the export, re-sealed with the
keys, and gone with withdrawal of either purpose, with erasure and with the consent's end."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from consentcam.consent.consents import record_consent
from consentcam.consent.context import Ledger
from consentcam.consent.enrolment import enroll
from consentcam.consent.keys import rotate_keys
from consentcam.consent.members import add_member
from consentcam.consent.pictures import member_portrait
from consentcam.consent.retention import purge
from consentcam.consent.rights import erase_member, export_member, withdraw
from consentcam.consent.sites import add_site
from consentcam.errors import ConsentError, InputError, NotFound
from consentcam.store import crypto
from consentcam.store.models import AuditEntry, MemberImage, Template, utcnow

JPEG_MAGIC = b"\xff\xd8\xff"


@pytest.fixture
def member(ledger: Ledger, evidence: Path) -> str:
    add_site(ledger, "shop", "eu")
    member = add_member(ledger, "shop", "Barack")
    record_consent(ledger, member.id, purpose="recognition", evidence=evidence, notice_version="v3")
    return member.id


def _portrait_consent(ledger: Ledger, member: str, evidence: Path, **kwargs: object) -> None:
    record_consent(
        ledger,
        member,
        purpose="portrait",
        evidence=evidence,
        notice_version="v3",
        **kwargs,  # type: ignore[arg-type]
    )


def _count(ledger: Ledger, model: type[MemberImage] | type[Template]) -> int:
    with ledger.store.transaction() as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


def _actions(ledger: Ledger) -> list[tuple[str, str]]:
    with ledger.store.transaction() as s:
        rows = s.execute(select(AuditEntry.action, AuditEntry.actor).order_by(AuditEntry.seq))
        return [(a, b) for a, b in rows]


def test_a_portrait_needs_its_own_consent_and_nothing_is_stored_without(
    ledger: Ledger, member: str, photos: Path, evidence: Path
) -> None:
    with pytest.raises(ConsentError, match="portrait"):
        enroll(ledger, member, [photos / "obama.jpg"], portrait=True)
    assert _count(ledger, Template) == 0 and _count(ledger, MemberImage) == 0
    # Only a notice that describes the purpose can carry it.
    with pytest.raises(InputError, match="does not describe the portrait purpose"):
        record_consent(ledger, member, purpose="portrait", evidence=evidence, notice_version="v2")
    # Off unless asked: a consenting member enrolled without the flag has no portrait.
    _portrait_consent(ledger, member, evidence)
    enroll(ledger, member, [photos / "obama.jpg"])
    assert _count(ledger, MemberImage) == 0


def test_the_portrait_is_sealed_and_every_view_is_audited(
    ledger: Ledger, member: str, photos: Path, evidence: Path
) -> None:
    _portrait_consent(ledger, member, evidence)
    result = enroll(ledger, member, [photos / "obama.jpg", photos / "obama2.jpg"], portrait=True)
    assert result.portrait and result.templates == 2
    with ledger.store.transaction() as s:
        (row,) = s.execute(select(MemberImage)).scalars()
        assert row.kind == "portrait" and row.member_id == member and row.event_id is None
        assert JPEG_MAGIC not in row.sealed  # never in clear in the store
    staff = Ledger(ledger.store, ledger.keys, "staff:ana", ledger.settings)
    jpeg = member_portrait(staff, member)
    assert jpeg.startswith(JPEG_MAGIC)
    assert Image.open(io.BytesIO(jpeg)).size == (150, 150)
    assert ("portrait.view", "staff:ana") in _actions(ledger)
    assert ("portrait.add", ledger.actor) in _actions(ledger)
    # A second enrolment with a portrait replaces it: one per member.
    enroll(ledger, member, [photos / "obama3.jpg"], portrait=True)
    assert _count(ledger, MemberImage) == 1


def test_withdrawing_the_portrait_keeps_recognition(
    ledger: Ledger, member: str, photos: Path, evidence: Path
) -> None:
    _portrait_consent(ledger, member, evidence)
    enroll(ledger, member, [photos / "obama.jpg"], portrait=True)
    receipt = withdraw(ledger, member, "portrait")
    assert receipt.purposes == ("portrait",)
    assert receipt.deleted_pictures == 1 and receipt.deleted_templates == 0
    assert receipt.withdrawn_consents == 1
    assert _count(ledger, MemberImage) == 0 and _count(ledger, Template) == 1
    with pytest.raises(NotFound, match="no portrait"):
        member_portrait(ledger, member)
    with pytest.raises(InputError, match="unknown purpose"):
        withdraw(ledger, member, "marketing")


def test_withdrawing_recognition_removes_the_pictures_too(
    ledger: Ledger, member: str, photos: Path, evidence: Path
) -> None:
    _portrait_consent(ledger, member, evidence)
    enroll(ledger, member, [photos / "obama.jpg"], portrait=True)
    receipt = withdraw(ledger, member)
    assert receipt.deleted_pictures == 1 and receipt.withdrawn_consents == 2
    assert _count(ledger, MemberImage) == 0 and _count(ledger, Template) == 0


def test_erasure_lists_the_pictures_it_deleted(
    ledger: Ledger, member: str, photos: Path, evidence: Path
) -> None:
    _portrait_consent(ledger, member, evidence)
    enroll(ledger, member, [photos / "obama.jpg"], portrait=True)
    receipt = erase_member(ledger, member)
    assert receipt.deleted.pictures == 1
    assert _count(ledger, MemberImage) == 0


def test_the_export_gives_the_member_their_portrait(
    ledger: Ledger, member: str, photos: Path, evidence: Path
) -> None:
    import base64

    _portrait_consent(ledger, member, evidence)
    enroll(ledger, member, [photos / "obama.jpg"], portrait=True)
    (picture,) = export_member(ledger, member).pictures
    assert picture.kind == "portrait" and picture.event_id is None
    assert base64.b64decode(picture.jpeg_base64) == member_portrait(ledger, member)


def test_key_rotation_reseals_the_pictures(
    ledger: Ledger, member: str, photos: Path, evidence: Path
) -> None:
    _portrait_consent(ledger, member, evidence)
    enroll(ledger, member, [photos / "obama.jpg"], portrait=True)
    before = member_portrait(ledger, member)
    new_keys = crypto.TemplateKeys(b"\x07" * 32)
    assert rotate_keys(ledger, new_keys).pictures_resealed == 1
    rotated = Ledger(ledger.store, new_keys, ledger.actor, ledger.settings)
    assert member_portrait(rotated, member) == before


def test_the_purge_deletes_pictures_whose_consent_ended(
    ledger: Ledger, member: str, photos: Path, evidence: Path
) -> None:
    expires = utcnow() + dt.timedelta(days=1)
    _portrait_consent(ledger, member, evidence, expires=expires)
    enroll(ledger, member, [photos / "obama.jpg"], portrait=True)
    assert purge(ledger)["pictures_deleted"] == 0
    report = purge(ledger, expires + dt.timedelta(seconds=1))
    assert report["pictures_deleted"] == 1
    assert _count(ledger, MemberImage) == 0 and _count(ledger, Template) == 1
