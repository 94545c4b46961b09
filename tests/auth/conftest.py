from __future__ import annotations

import pytest

from tests.support.auth import use_fast_hashing


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fast_hashing(monkeypatch)
