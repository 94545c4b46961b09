"""Fixtures of the hardening tests: the generated corpus (once per session), and a library context
(``tests.hardening.support.Ctx``) on each backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from consentcam.consent.context import open_ledger
from tests.hardening.corpus import (
    ImageCorpus,
    VideoCorpus,
    write_image_corpus,
    write_video_corpus,
)
from tests.hardening.support import Ctx, populate
from tests.support.auth import use_fast_hashing
from tests.support.stores import BACKENDS, backend_settings


@pytest.fixture(scope="session")
def images(tmp_path_factory: pytest.TempPathFactory, photos: Path) -> ImageCorpus:
    return write_image_corpus(tmp_path_factory.mktemp("bad-images"), photos / "obama_small.jpg")


@pytest.fixture(scope="session")
def videos(tmp_path_factory: pytest.TempPathFactory, photos: Path) -> VideoCorpus:
    return write_video_corpus(tmp_path_factory.mktemp("bad-videos"), photos / "obama_small.jpg")


@pytest.fixture(autouse=True)
def quick_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Users are made for their names, not their passwords: the cheapest argon2 parameters."""
    use_fast_hashing(monkeypatch)


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
        yield populate(ledger, settings, folder, str(videos.reference))
        ledger.store.engine.dispose()
