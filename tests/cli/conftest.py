from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(run_cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    """The CLI on a store of this test's own (``--data-dir``), as the audit log's ``test:cli``;
    modules that need another set-up define their own ``cli``."""
    monkeypatch.delenv("CONSENTCAM_TEMPLATE_KEY", raising=False)
    monkeypatch.setenv("CONSENTCAM_ACTOR", "test:cli")

    def run(*args: str) -> tuple[int, str, str]:
        return run_cli("--data-dir", str(tmp_path / "store"), *args)

    return run
