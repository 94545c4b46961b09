"""Authentication for tests: cheap password hashing, users with tokens, bearer headers, a clock."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from argon2 import PasswordHasher

from consentcam.auth import passwords
from consentcam.auth.tokens import issue_token
from consentcam.auth.users import add_user
from consentcam.consent.context import Ledger

PASSWORD = "correct horse battery staple"


def use_fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id with the smallest parameters: the default ones take a fifth of a second per
    hash, which adds up over many logins. One test checks the real defaults."""
    monkeypatch.setattr(
        passwords, "HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    )


def user_with_token(
    ledger: Ledger,
    name: str,
    role: str,
    sites: Sequence[str] | None = None,
    password: str = PASSWORD,
) -> str:
    """Add a user and return a new token of theirs (same role and sites)."""
    add_user(ledger, name, role, password, sites)
    return issue_token(ledger, name, "tests").token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
