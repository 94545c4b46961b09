"""A store with three sites under different profiles, members, templates, a webhook and
purchases: what the compliance documents and the signage CLI and API read."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pytest

from consentcam.consent.consents import record_consent
from consentcam.consent.context import Ledger
from consentcam.consent.enrolment import enroll
from consentcam.consent.members import add_member
from consentcam.consent.purchases import import_purchases
from consentcam.consent.sites import add_camera, add_site
from consentcam.events.webhooks import add_webhook
from consentcam.vision.records import Face

HOOK = "https://hooks.example/secret-path?token=s3cret"


@dataclass(frozen=True)
class Chain:
    ledger: Ledger
    enrolled: str  # member id at flagship with a template
    consented: str  # member id at flagship with consent, no template
    shanghai: str  # member id at shanghai with a template


def build_chain(
    ledger: Ledger, photos: Path, evidence: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Chain:
    # Enrolment runs through the ledger and the store; only the face model's seconds per photo
    # are saved by reusing the photo's face.
    face = photo_face(photos / "obama.jpg")
    monkeypatch.setattr(
        "consentcam.vision.faces.enrolment_face", lambda source, settings=None: face
    )
    add_site(ledger, "flagship", "eu")
    add_camera(ledger, "flagship", "door", "door.mp4", "door", True)
    add_camera(ledger, "flagship", "entrance", "entrance.mp4", "count", False)
    add_site(ledger, "shanghai", "cn")
    add_camera(ledger, "shanghai", "kiosk", "/dev/video0", "verify", True)
    add_site(ledger, "portland", "us-portland")
    add_camera(ledger, "portland", "counter", "counter.mp4", "count", False)
    members = []
    for site, enrol in (("flagship", True), ("flagship", False), ("shanghai", True)):
        member = add_member(ledger, site, f"Member at {site}")
        record_consent(ledger, member.id, purpose="recognition", evidence=evidence)
        if enrol:
            enroll(ledger, member.id, [photos / "obama.jpg"])
        members.append(member.id)
    add_webhook(ledger, HOOK, "flagship")
    pos = tmp_path / "pos.csv"
    pos.write_text(
        f"member_id,time,items,amount,currency\n{members[0]},2024-05-01T10:00:00Z,tea,3.50,EUR\n"
    )
    import_purchases(ledger, pos)
    return Chain(ledger, members[0], members[1], members[2])


@lru_cache(maxsize=1)
def photo_face(photo: Path) -> Face:
    """The face of an enrolment photo, found and embedded once per test session."""
    from consentcam.vision.faces import enrolment_face

    return enrolment_face(photo)


@pytest.fixture
def chain(
    ledger: Ledger,
    photos: Path,
    evidence: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Chain:
    return build_chain(ledger, photos, evidence, tmp_path, monkeypatch)
