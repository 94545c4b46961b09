"""Shared fixtures: the public-domain photos and LFW live in ../shared/data beside the project."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from consentcam.config import Settings, VisionSettings, load_settings
from consentcam.consent.context import Ledger, open_ledger
from consentcam.pipeline.clips import Actor, ClipTruth, write_clip
from consentcam.store.scratch import scratch_database
from consentcam.vision.decode import load_image

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
PUBLIC_DOMAIN = SHARED_DATA / "public-domain"
LFW_ROOT = SHARED_DATA / "lfw"


@pytest.fixture(scope="session")
def photos() -> Path:
    assert PUBLIC_DOMAIN.is_dir(), f"expected the shared data at {PUBLIC_DOMAIN}"
    return PUBLIC_DOMAIN


@pytest.fixture(scope="session")
def settings() -> VisionSettings:
    return VisionSettings()


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run the real CLI entry point in-process: (exit code, stdout, stderr)."""
    from consentcam.cli.main import main

    def run(*args: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as exc:
            main(list(args))
        out, err = capsys.readouterr()
        code = exc.value.code if isinstance(exc.value.code, int) else 1
        return code, out, err

    return run


BACKENDS = ["sqlite", "postgresql"]
PG_URL_VAR = "CONSENTCAM_TEST_DATABASE_URL"


@contextmanager
def backend_settings(backend: str, data_dir: Path) -> Iterator[Settings]:
    """Development settings for a fresh, empty store on ``backend``: SQLite in ``data_dir``, or
    a scratch database on the test PostgreSQL server (which .ci/run starts)."""
    if backend == "sqlite":
        yield load_settings(data_dir=data_dir, dev=True)
        return
    server = os.environ.get(PG_URL_VAR)
    if not server:
        if os.environ.get("CI"):
            pytest.fail(f"CI must start PostgreSQL and set {PG_URL_VAR} (see .ci/run)")
        pytest.skip(f"PostgreSQL tests need {PG_URL_VAR} (bash .ci/postgres.sh prints one)")
    with scratch_database(server, "consentcam_test") as url:
        yield load_settings(data_dir=data_dir, dev=True, database_url=url)


@pytest.fixture(params=BACKENDS)
def store_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """A fresh, empty store on each backend, for one test."""
    with backend_settings(request.param, tmp_path / "store") as settings:
        yield settings


@pytest.fixture
def make_ledger(store_settings: Settings) -> Callable[..., Ledger]:
    def make(actor: str = "test:staff") -> Ledger:
        return open_ledger(store_settings, actor, create=True)

    return make


@pytest.fixture
def ledger(make_ledger: Callable[..., Ledger]) -> Ledger:
    return make_ledger()


@pytest.fixture
def evidence(tmp_path: Path) -> Path:
    path = tmp_path / "signed-consent-form.txt"
    path.write_text("I consent to face recognition for member greetings. Signed, A. Member")
    return path


# Short labelled clips made from the public-domain photos, for pipeline and CLI tests.


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
