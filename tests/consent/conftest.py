from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from consentcam.config import Settings
from consentcam.consent.ledger import Ledger, open_ledger


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
