"""Fixtures for pipeline tests: short labelled clips made from the public-domain photos."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from consentcam.config import Settings
from consentcam.consent.ledger import (
    Ledger,
    add_camera,
    add_member,
    add_site,
    enroll,
    open_ledger,
    record_consent,
)
from consentcam.pipeline.clips import Actor, ClipTruth, write_clip
from consentcam.vision.decode import load_image

# Small frames keep the tests fast; at this size faces need detection at full scale.
TEST_PIPELINE = {"detect_scale": 1.0}


@pytest.fixture(scope="session")
def two_people_clip(
    tmp_path_factory: pytest.TempPathFactory, photos: Path
) -> tuple[Path, ClipTruth]:
    """Obama (a different photo from his enrolment one) walks right while Biden walks left."""
    path = tmp_path_factory.mktemp("clips") / "two.mp4"
    truth = write_clip(
        path,
        [
            Actor(
                "obama",
                load_image(photos / "obama2.jpg"),
                0,
                60,
                ((0.2, 0.5), (0.6, 0.5)),
                (0.6, 0.7),
            ),
            Actor(
                "biden",
                load_image(photos / "biden.jpg"),
                30,
                90,
                ((0.8, 0.5), (0.5, 0.5)),
                (0.6, 0.6),
            ),
        ],
        size=(640, 360),
        fps=30,
        frames=90,
    )
    return path, truth


@pytest.fixture(scope="session")
def stranger_clip(tmp_path_factory: pytest.TempPathFactory, photos: Path) -> Path:
    """Only Biden, who is never enrolled in these tests: every face in it is a bystander's."""
    path = tmp_path_factory.mktemp("clips") / "stranger.mp4"
    write_clip(
        path,
        [
            Actor(
                "biden",
                load_image(photos / "biden.jpg"),
                0,
                45,
                ((0.3, 0.5), (0.7, 0.5)),
                (0.6, 0.7),
            )
        ],
        size=(640, 360),
        fps=30,
        frames=45,
    )
    return path


def _walker(
    name: str,
    photo: Path,
    frames: tuple[int, int],
    x: tuple[float, float],
    height: tuple[float, float],
) -> Actor:
    """A person crossing the frame at mid-height from x[0] to x[1] (fractions of the width)."""
    return Actor(name, load_image(photo), *frames, ((x[0], 0.5), (x[1], 0.5)), height)


@pytest.fixture
def pipeline_settings(store_settings: Settings) -> Settings:
    return store_settings.model_copy(
        update={"pipeline": store_settings.pipeline.model_copy(update=TEST_PIPELINE)}
    )


@pytest.fixture
def site_ledger(pipeline_settings: Settings) -> Ledger:
    ledger = open_ledger(pipeline_settings, "test:staff", create=True)
    add_site(ledger, "shop", "eu")
    return ledger


@pytest.fixture
def enrol(site_ledger: Ledger, photos: Path, evidence: Path) -> Callable[[str, str], str]:
    """Add a consenting member enrolled from one photo; returns the member id."""

    def make(name: str, photo: str) -> str:
        member = add_member(site_ledger, "shop", name)
        record_consent(site_ledger, member.id, purpose="recognition", evidence=evidence)
        enroll(site_ledger, member.id, [photos / photo])
        return member.id

    return make


@pytest.fixture
def camera(site_ledger: Ledger) -> Callable[[str, Path, str], str]:
    def make(name: str, source: Path, mode: str) -> str:
        return add_camera(site_ledger, "shop", name, str(source), mode, mode != "count").id

    return make
