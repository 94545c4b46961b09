from __future__ import annotations

import hashlib
import hmac

import pytest

from consentcam.events.webhooks import signature, signature_header, verify_signature

SECRET = b"whsec_test-secret"
BODY = b'{"seq":1,"kind":"recognition"}'
T = 1_790_000_000


def test_signature_is_hex_hmac_sha256_over_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET, b"1790000000." + BODY, hashlib.sha256).hexdigest()
    assert signature(SECRET, T, BODY) == expected
    assert signature_header(SECRET, T, BODY) == f"t={T},v1={expected}"


def test_round_trip_verifies() -> None:
    header = signature_header(SECRET, T, BODY)
    assert verify_signature(SECRET, header, BODY, now=T)
    assert verify_signature(SECRET, header, BODY, now=T + 299)
    # A receiver may list several signatures (e.g. while it moves to a new secret).
    assert verify_signature(SECRET, f"t={T},v1=00,v1={signature(SECRET, T, BODY)}", BODY, T)


@pytest.mark.parametrize(
    ("secret", "body", "header"),
    [
        (SECRET, BODY + b" ", None),  # body altered
        (SECRET, BODY.replace(b"1", b"2"), None),
        (b"another secret", BODY, None),  # wrong secret
        (SECRET, BODY, f"t={T + 1},v1={signature(SECRET, T, BODY)}"),  # timestamp altered
        (SECRET, BODY, f"t={T},v1={'0' * 64}"),  # signature altered
    ],
)
def test_tampering_is_detected(secret: bytes, body: bytes, header: str | None) -> None:
    header = header or signature_header(SECRET, T, BODY)
    assert not verify_signature(secret, header, body, now=T)


@pytest.mark.parametrize("offset", [301, -301, 86_400])
def test_stale_or_future_timestamps_are_rejected(offset: int) -> None:
    header = signature_header(SECRET, T, BODY)
    assert not verify_signature(SECRET, header, BODY, now=T + offset)
    assert verify_signature(SECRET, header, BODY, now=T + offset, tolerance_s=abs(offset))


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        f"v1={signature(SECRET, T, BODY)}",
        "t=abc,v1=00",
        "t=\u00b2,v1=0",
        f"t={T},v1=\u00e9",
    ],
)
def test_malformed_headers_are_rejected_without_raising(header: str) -> None:
    assert not verify_signature(SECRET, header, BODY, now=T)
