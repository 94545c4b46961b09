from __future__ import annotations

from typing import Literal

import pytest
from argon2 import PasswordHasher

from consentcam.auth import passwords
from consentcam.auth.passwords import hash_password, rehashed, verify_password
from consentcam.errors import InputError
from tests.support.auth import PASSWORD


def test_hashes_are_argon2id_with_the_library_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "HASHER", PasswordHasher())
    stored = hash_password(PASSWORD)
    defaults = PasswordHasher()
    assert stored.startswith(
        f"$argon2id$v=19$m={defaults.memory_cost},t={defaults.time_cost},p={defaults.parallelism}$"
    )
    assert PASSWORD not in stored
    assert verify_password(stored, PASSWORD)
    assert rehashed(stored, PASSWORD) is None


def test_verify_accepts_only_the_password() -> None:
    stored = hash_password(PASSWORD)
    assert verify_password(stored, PASSWORD)
    assert not verify_password(stored, PASSWORD + " ")
    assert not verify_password(stored, "")
    assert hash_password(PASSWORD) != stored  # salted


def test_no_hash_or_a_broken_one_never_verifies() -> None:
    assert not verify_password(None, PASSWORD)
    assert not verify_password("not a hash", PASSWORD)
    assert not verify_password(hash_password(PASSWORD), "x" * 5000)


def test_unknown_users_cost_a_real_verification(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = passwords.HASHER

    class Counting(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            calls.append(str(hash))
            return real.verify(hash, password)

    monkeypatch.setattr(passwords, "HASHER", Counting(time_cost=1, memory_cost=8, parallelism=1))
    assert not verify_password(None, PASSWORD)
    assert len(calls) == 1 and calls[0].startswith("$argon2id$")


@pytest.mark.parametrize("bad", ["", "short", "eleven char", "x" * 1025])
def test_the_policy_refuses_short_and_huge_passwords(bad: str) -> None:
    with pytest.raises(InputError, match="characters") as exc:
        hash_password(bad)
    assert not bad or bad not in str(exc.value)  # never echoed


def test_a_hash_with_old_parameters_is_replaced() -> None:
    old = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1).hash(PASSWORD)
    fresh = rehashed(old, PASSWORD)
    assert fresh is not None and fresh != old
    assert verify_password(fresh, PASSWORD) and rehashed(fresh, PASSWORD) is None
