"""Append-only, hash-chained audit entries and their verification.

Each entry's hash covers its sequence number, time, actor, action, subject, details and the
previous entry's hash, so editing, deleting or reordering any entry breaks every later link.
Details must be plain values: an audit entry never carries biometric content.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from consentcam.errors import InputError
from consentcam.store.models import AuditEntry, utcnow

GENESIS = "0" * 64
_PLAIN = (str, int, float, bool, type(None))


def append(
    session: Session,
    *,
    actor: str,
    action: str,
    subject: str | None = None,
    details: dict[str, Any] | None = None,
    tenant_id: str | None = None,
) -> AuditEntry:
    """Add an entry in the caller's transaction (so it commits or rolls back with the action)."""
    details = details or {}
    _check_plain(details)
    # Serialise appenders: the chain needs the previous hash to be the latest one.
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(727001)"))
    elif dialect == "sqlite":
        _hold_sqlite_write_lock(session)
    last = session.execute(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).scalar()
    entry = AuditEntry(
        seq=(last.seq + 1) if last else 1,
        tenant_id=tenant_id,
        at=utcnow(),
        actor=actor,
        action=action,
        subject=subject,
        details=details,
        prev_hash=last.hash if last else GENESIS,
    )
    entry.hash = entry_hash(entry)
    session.add(entry)
    session.flush()
    return entry


def _hold_sqlite_write_lock(session: Session) -> None:
    """Take SQLite's write lock now, unless this transaction already wrote (and so holds it).

    Python's sqlite3 begins a transaction only at the first INSERT/UPDATE/DELETE, so a
    transaction that has only read so far (a member-card view) would read the last entry with no
    lock, and two such appenders, threads or processes, would both build on the same entry: the
    second failed on the unique seq (found under load by benchmarks/bench_api_load.py).
    BEGIN IMMEDIATE waits for the lock (sqlite3's busy timeout), like PostgreSQL's advisory lock.
    Issued on the driver's connection: through the session it would flush pending rows first,
    which begins the transaction itself."""
    driver = session.connection().connection.driver_connection
    if driver is not None and not driver.in_transaction:
        driver.execute("BEGIN IMMEDIATE")


def entry_hash(entry: AuditEntry) -> str:
    body = {
        "seq": entry.seq,
        "tenant_id": entry.tenant_id,
        "at": entry.at.isoformat(timespec="microseconds"),
        "actor": entry.actor,
        "action": entry.action,
        "subject": entry.subject,
        "details": entry.details,
        "prev_hash": entry.prev_hash,
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Verification:
    ok: bool
    entries: int
    first_bad_seq: int | None = None
    reason: str | None = None


def verify(session: Session) -> Verification:
    """Walk the chain from the start; report the first entry that does not fit."""
    expected_prev, expected_seq, count = GENESIS, 1, 0
    for entry in session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars():
        count += 1
        if entry.seq != expected_seq:
            return Verification(False, count, expected_seq, f"entry {expected_seq} is missing")
        if entry.prev_hash != expected_prev:
            return Verification(
                False, count, entry.seq, f"entry {entry.seq} does not follow entry {entry.seq - 1}"
            )
        if entry_hash(entry) != entry.hash:
            return Verification(False, count, entry.seq, f"entry {entry.seq} was altered")
        expected_prev, expected_seq = entry.hash, expected_seq + 1
    return Verification(True, count)


def _check_plain(value: Any, path: str = "details") -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _check_plain(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_plain(v, f"{path}[{i}]")
    elif not isinstance(value, _PLAIN):
        raise InputError(f"audit {path} must hold plain values, not {type(value).__name__}")
