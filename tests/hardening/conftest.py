"""Fixtures of the hardening tests: the generated corpus (once per session), and a library context
(a store with a site, a verify camera, a consenting member and an evidence file) on each backend."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from consentcam.config import Settings
from consentcam.consent.consents import record_consent
from consentcam.consent.context import Ledger, camera_by_ref, open_ledger
from consentcam.consent.members import add_member
from consentcam.consent.sites import add_camera, add_site
from tests.api.conftest import backend_settings
from tests.conftest import BACKENDS
from tests.hardening.corpus import (
    ImageCorpus,
    Snapshot,
    VideoCorpus,
    snapshot,
    write_image_corpus,
    write_video_corpus,
)


@pytest.fixture(scope="session")
def images(tmp_path_factory: pytest.TempPathFactory, photos: Path) -> ImageCorpus:
    return write_image_corpus(tmp_path_factory.mktemp("bad-images"), photos / "obama_small.jpg")


@pytest.fixture(scope="session")
def videos(tmp_path_factory: pytest.TempPathFactory, photos: Path) -> VideoCorpus:
    return write_video_corpus(tmp_path_factory.mktemp("bad-videos"), photos / "obama_small.jpg")


@dataclass(frozen=True)
class Ctx:
    """A store with site ``shop`` (eu), verify camera ``kiosk``, count camera ``entrance`` (a
    real clip), a member with an active recognition consent, and an evidence file."""

    ledger: Ledger
    settings: Settings
    site: str
    camera: str
    member: str
    evidence: Path
    folder: Path

    def snapshot(self) -> Snapshot:
        return snapshot(self.ledger.store, self.settings)

    def fresh(self) -> Ctx:
        """The same store, seen from a new tenant with its own site, cameras and consenting
        member: what one test adds (a site named like an injection) is not found by another's
        lookups."""
        return _populate(
            dataclasses.replace(self.ledger, tenant=f"t-{uuid.uuid4().hex[:10]}"),
            self.settings,
            self.folder,
            self.camera_source,
        )

    @property
    def camera_source(self) -> str:
        with self.ledger.store.transaction() as s:
            return camera_by_ref(s, self.camera, self.site, self.ledger.tenant_id(s)).source


def _populate(ledger: Ledger, settings: Settings, folder: Path, source: str) -> Ctx:
    add_site(ledger, "shop", "eu")
    add_camera(ledger, "shop", "kiosk", source, "verify", True)
    add_camera(ledger, "shop", "entrance", source, "count", False)
    member = add_member(ledger, "shop", "Ada Member", {"tier": "gold"})
    evidence = folder / "signed-form.txt"
    evidence.write_text("I consent to face recognition. Signed, A. Member")
    record_consent(ledger, member.id, purpose="recognition", evidence=evidence)
    return Ctx(ledger, settings, "shop", "kiosk", member.id, evidence, folder)


@pytest.fixture(autouse=True)
def quick_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Users are made for their names, not their passwords: the cheapest argon2 parameters."""
    from argon2 import PasswordHasher

    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr("consentcam.auth.passwords.HASHER", cheap)


@pytest.fixture(scope="module", params=BACKENDS)
def ctx(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, videos: VideoCorpus
) -> Iterator[Ctx]:
    """One store per backend and test module: every check compares the store with itself
    before and after, so the tests of a module can share it (creating a PostgreSQL database
    takes about a second)."""
    folder = tmp_path_factory.mktemp("hardening")
    with backend_settings(request.param, folder / "store") as settings:
        ledger = open_ledger(settings, "test:hardening", create=True)
        yield _populate(ledger, settings, folder, str(videos.reference))
        ledger.store.engine.dispose()
