"""Shared fixtures: the public-domain photos and LFW live in ../shared/data beside the project."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from consentcam.config import VisionSettings

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
