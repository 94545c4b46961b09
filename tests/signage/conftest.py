"""The chain of ``tests.support.seed.build_chain``: what the compliance documents and the
signage CLI and API read."""

from __future__ import annotations

from pathlib import Path

import pytest

from consentcam.consent.context import Ledger
from tests.support.seed import Chain, build_chain


@pytest.fixture
def chain(
    ledger: Ledger,
    photos: Path,
    evidence: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Chain:
    return build_chain(ledger, photos, evidence, tmp_path, monkeypatch)
