"""Leak checks for the security review's tests: everything a flow left behind in logs, the audit
log and events, as text, and the forms a secret may take when it leaks."""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest
from sqlalchemy import select

from consentcam.consent.context import Ledger
from consentcam.store.db import SQLITE_FILE
from consentcam.store.models import AuditEntry, Base, Event

_FORMATTER = logging.Formatter("%(levelname)s %(name)s %(message)s")


def log_text(caplog: pytest.LogCaptureFixture) -> str:
    """Every captured record as text: the formatted message with its traceback, and the raw
    message, arguments and extra attributes (a secret passed as an argument but not shown by
    the format string is still a leak for any other formatter)."""
    parts = []
    for record in caplog.records:
        parts.append(_FORMATTER.format(record))
        parts.append(repr({k: v for k, v in vars(record).items() if k != "exc_info"}))
    return "\n".join(parts)


def rows_mentioning(ledger: Ledger, *needles: str) -> list[str]:
    """Every stored row, in any table, whose values contain one of ``needles``, as
    ``"<table>: <values>"``."""
    found = []
    with ledger.store.transaction() as s:
        for table in Base.metadata.sorted_tables:
            for row in s.execute(select(table)).all():
                text = json.dumps([str(v) for v in row], ensure_ascii=False)
                if any(n in text for n in needles):
                    found.append(f"{table.name}: {text[:120]}")
    return found


def audit_text(ledger: Ledger) -> str:
    """Every audit entry (actor, action, subject, details) of the whole store, as JSON lines."""
    with ledger.store.transaction() as s:
        entries = s.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars()
        return "\n".join(
            json.dumps([e.actor, e.action, e.subject, e.details], ensure_ascii=False)
            for e in entries
        )


def events_text(ledger: Ledger) -> str:
    """Every event of the whole store (kind, status, payload), as JSON lines."""
    with ledger.store.transaction() as s:
        events = s.execute(select(Event)).scalars()
        return "\n".join(
            json.dumps([e.kind, e.status, e.confirmed_by, e.payload], ensure_ascii=False)
            for e in events
        )


def key_forms(key_text: str) -> list[str]:
    """A base64 template key as configured, and the other ways its 32 bytes could be printed:
    standard and URL-safe base64 with and without padding, and hex."""
    padded = key_text.strip() + "=" * (-len(key_text.strip()) % 4)
    raw = base64.urlsafe_b64decode(padded)
    forms = {
        key_text.strip(),
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode(),
        binascii.hexlify(raw).decode(),
    }
    return sorted(forms | {f.rstrip("=") for f in forms})


def token_secret(token: str) -> str:
    """The secret part of an API token ``cc_<prefix>_<secret>`` (the prefix is public)."""
    scheme, prefix, secret = token.split("_", 2)
    assert scheme == "cc" and prefix and secret
    return secret


def assert_absent(secrets: Mapping[str, str | Iterable[str]], places: Mapping[str, str]) -> None:
    """No secret (by name; a value or several forms of one) occurs in any place (by name).
    Reports every hit at once, without printing the secret itself."""
    hits = []
    for secret_name, value in secrets.items():
        forms = [value] if isinstance(value, str) else list(value)
        assert all(len(f) >= 8 for f in forms), f"{secret_name}: too short to search for"
        for place, text in places.items():
            if any(f in text for f in forms):
                hits.append(f"{secret_name} in {place}")
    assert not hits, "leaked: " + ", ".join(hits)


def sqlite_bytes(data_dir: Path) -> bytes:
    """The SQLite store as an attacker copying the data directory gets it: the database file
    and its write-ahead log (recent writes live there until a checkpoint) and shared memory."""
    files = sorted(data_dir.glob(SQLITE_FILE + "*"))
    assert any(f.name == SQLITE_FILE for f in files), f"no {SQLITE_FILE} in {data_dir}"
    return b"".join(f.read_bytes() for f in files)
