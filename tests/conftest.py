"""Shared fixtures (builders and clients are in tests/support): the public-domain photos live in
../shared/data beside the project."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from consentcam.config import Settings, VisionSettings
from consentcam.consent.context import Ledger, open_ledger
from consentcam.pipeline.clips import Actor, ClipTruth, write_clip
from consentcam.vision.decode import load_image
from tests.support.paths import PUBLIC_DOMAIN
from tests.support.stores import BACKENDS, backend_settings


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by what they need, once here rather than on each function: ``postgres`` for
    every parametrisation on the PostgreSQL store (a fixture or argument given "postgresql"),
    ``browser`` for tests driving Chromium, ``fuzz`` for Hypothesis-driven tests (modules that
    fuzz otherwise, schemathesis or a state machine, carry the mark themselves)."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        params = callspec.params.values() if callspec is not None else ()
        # Compared one by one as strings: some parameters are arrays, which `in` cannot compare.
        if any(isinstance(value, str) and value == "postgresql" for value in params):
            item.add_marker(pytest.mark.postgres)
        if "playwright_driver" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)
        if getattr(getattr(item, "obj", None), "is_hypothesis_test", False):
            item.add_marker(pytest.mark.fuzz)


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
    # Imported on use: the CLI brings in most of the package, which many test folders never need.
    from consentcam.cli.main import main

    def run(*args: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as exc:
            main(list(args))
        out, err = capsys.readouterr()
        code = exc.value.code if isinstance(exc.value.code, int) else 1
        return code, out, err

    return run


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
