"""Password hashing: argon2id with argon2-cffi's defaults (RFC 9106's low-memory profile).

Passwords are never logged, audited, echoed in errors or kept beyond the call. A stored hash made
with older parameters is replaced on the next successful login (``needs_rehash``). Verifying
against a missing user still runs one argon2 verification (against a dummy hash), so response
time does not reveal which user names exist.
"""

from __future__ import annotations

import contextlib
import functools
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from consentcam.errors import InputError

MIN_LENGTH = 12
# Long enough for any passphrase or manager-generated secret; the cap keeps a request from
# making the server hash megabytes.
MAX_LENGTH = 1024

# Module-level so tests can swap in cheaper parameters; production code never changes it.
HASHER = PasswordHasher()


def check_password(password: str) -> None:
    """InputError unless ``password`` meets the policy (12 to 1024 characters)."""
    if len(password) < MIN_LENGTH:
        raise InputError(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise InputError(f"a password may have at most {MAX_LENGTH} characters")


# Letters and digits no one misreads when copying from a screen (no 0/O, 1/l/I).
_READABLE = "abcdefghijkmnpqrstuvwxyz23456789"
GENERATED_GROUPS, GENERATED_GROUP_LENGTH = 4, 5


def generate_password() -> str:
    """A random password for a new user or a reset, shown once to whoever set it: 20 readable
    characters in groups of five (about 100 bits), so it can be read out or typed by hand."""
    groups = (
        "".join(secrets.choice(_READABLE) for _ in range(GENERATED_GROUP_LENGTH))
        for _ in range(GENERATED_GROUPS)
    )
    return "-".join(groups)


def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (which must meet the policy)."""
    check_password(password)
    return HASHER.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored_hash``; with no hash (unknown user, or a user
    without a password) it verifies against a dummy hash and answers False, taking as long."""
    if stored_hash is None or len(password) > MAX_LENGTH:
        _burn(password[:MAX_LENGTH])
        return False
    try:
        return HASHER.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def rehashed(stored_hash: str, password: str) -> str | None:
    """A new hash of ``password`` (already verified against ``stored_hash``) when the stored
    one was made with other parameters than the current ones; None when it is current. The
    length policy is not applied again: the password was accepted when it was set."""
    try:
        current = not HASHER.check_needs_rehash(stored_hash)
    except InvalidHashError:
        current = False
    return None if current else HASHER.hash(password)


def _burn(password: str) -> None:
    with contextlib.suppress(VerificationError, InvalidHashError):
        HASHER.verify(_dummy_hash(HASHER), password)


@functools.cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    # Made on first use (hashing is slow, nothing heavy runs at import) with the same parameters
    # as real hashes, so a failed lookup costs what a real verification costs.
    return hasher.hash(secrets.token_urlsafe(16))
