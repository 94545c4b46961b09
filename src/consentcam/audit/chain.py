"""Append-only, hash-chained audit entries and their verification.

Each entry's hash covers its sequence number, time, actor, action, subject, details and the
previous entry's hash, so editing, deleting or reordering any entry breaks every later link.
Details must be plain values: an audit entry never carries biometric content.

Whoever can write the database could still rewrite the whole chain consistently (every hash
recomputed) or cut entries off its end. An ``Anchor`` closes that: the head's seq and hash,
written regularly somewhere the database's writers cannot change (a write-once log, a ticket, a
printout); ``verify`` given the anchors then also checks that each anchored entry is still
there with the same hash.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from consentcam.errors import InputError
from consentcam.store.models import AuditEntry, Base, utcnow

GENESIS = "0" * 64
HEX = set("0123456789abcdef")
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


def add_audited(
    session: Session,
    row: Base,
    *,
    actor: str,
    action: str,
    subject: str | None,
    details: dict[str, Any],
    tenant_id: str | None,
) -> AuditEntry:
    """Store a new row and its audit entry in the caller's transaction, so neither is stored
    without the other. ``subject`` and ``details`` are taken as given, before the row is
    flushed: to name the row's own id there, build the row with ``id=new_id()``."""
    session.add(row)
    session.flush()
    return append(
        session, actor=actor, action=action, subject=subject, details=details, tenant_id=tenant_id
    )


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


@dataclass(frozen=True, slots=True)
class Anchor:
    """An entry of the chain as it stood: its seq, its hash and its time (``seq`` 0 is the
    empty chain)."""

    seq: int
    hash: str
    at: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash, "at": self.at}


def anchor(session: Session, tenant_id: str | None = None) -> Anchor:
    """The chain's head now, to be kept outside the database; with ``tenant_id``, that
    tenant's latest entry instead. Its hash covers every entry before it, and a tenant is shown
    nothing of entries written after it (the head is often another tenant's: its seq would say
    how much the others wrote, its time when they last acted)."""
    query = select(AuditEntry)
    if tenant_id is not None:
        query = query.where(AuditEntry.tenant_id == tenant_id)
    last = session.execute(query.order_by(AuditEntry.seq.desc()).limit(1)).scalar()
    if last is None:
        return Anchor(0, GENESIS, None)
    return Anchor(last.seq, last.hash, last.at.isoformat())


def parse_anchors(text: str, source: str) -> list[Anchor]:
    """Anchors from JSON lines (as ``consentcam audit anchor`` prints them; blank lines are
    skipped); InputError naming the first line that is not one."""
    anchors = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
            found = Anchor(int(doc["seq"]), str(doc["hash"]), doc.get("at"))
        except (ValueError, TypeError, KeyError, AttributeError):
            raise InputError(
                f"{source}: line {number} is not an anchor (one JSON object with seq and hash)"
            ) from None
        if found.seq < 0 or len(found.hash) != len(GENESIS) or set(found.hash) - HEX:
            raise InputError(f"{source}: line {number} is not an anchor (bad seq or hash)")
        anchors.append(found)
    return anchors


def verify(
    session: Session, anchors: Sequence[Anchor] = (), tenant_id: str | None = None
) -> Verification:
    """Walk the chain from the start; report the first entry that does not fit, then the first
    anchor the chain no longer holds (the log cut back, or rewritten since it was anchored).

    With ``tenant_id``, the tenant's view: the whole chain is still walked (each of the
    tenant's entries is only as sound as the links before it), but ``entries`` counts the
    tenant's own, and a break at an entry that is not theirs (or a missing one, whoever wrote
    it) is reported without naming it: not ok, ``first_bad_seq`` the tenant's next entry (None
    if none follows). Anchors must be the tenant's own entries; any other seq reads as cut off,
    so anchors cannot probe what other tenants wrote."""
    wanted = {a.seq for a in anchors}
    seen: dict[int, str] = {}
    expected_prev, expected_seq, count = GENESIS, 1, 0
    last_own: int | None = None  # the tenant's latest entry before a break
    broken = False  # a break outside the tenant's entries: reported at their next one
    for entry in session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars():
        own = tenant_id is None or entry.tenant_id == tenant_id
        count += own
        if broken:
            if own:
                return Verification(False, count, entry.seq, _broken_before(last_own))
            continue
        problem = _misfit(entry, expected_seq, expected_prev)
        if problem is not None:
            bad_seq, reason = problem
            if own and bad_seq == entry.seq:
                return Verification(False, count, bad_seq, reason)
            if tenant_id is None:
                return Verification(False, count, bad_seq, reason)
            if own:  # the missing entry just before this one of the tenant's
                return Verification(False, count, entry.seq, _broken_before(last_own))
            broken = True
            continue
        if own:
            last_own = entry.seq
            if entry.seq in wanted:
                seen[entry.seq] = entry.hash
        expected_prev, expected_seq = entry.hash, expected_seq + 1
    if broken:
        return Verification(False, count, None, _broken_before(last_own))
    for a in sorted(anchors, key=lambda a: a.seq):
        if a.seq == 0:
            continue
        when = f" (anchored at {a.at})" if a.at else ""
        if a.seq not in seen:
            return Verification(
                False, count, a.seq, f"entry {a.seq}{when} is gone: the log was cut back"
            )
        if seen[a.seq] != a.hash:
            return Verification(
                False, count, a.seq, f"entry {a.seq}{when} has changed: the log was rewritten"
            )
    return Verification(True, count)


def _misfit(entry: AuditEntry, expected_seq: int, expected_prev: str) -> tuple[int, str] | None:
    """The seq and reason of the first entry that does not fit at ``entry``, if any."""
    if entry.seq != expected_seq:
        return expected_seq, f"entry {expected_seq} is missing"
    if entry.prev_hash != expected_prev:
        return entry.seq, f"entry {entry.seq} does not follow entry {entry.seq - 1}"
    if entry_hash(entry) != entry.hash:
        return entry.seq, f"entry {entry.seq} was altered"
    return None


def _broken_before(last_own: int | None) -> str:
    """A break outside a tenant's entries, told to that tenant without naming the entry."""
    after = f"after your entry {last_own}" if last_own is not None else "before your first entry"
    return (
        f"the chain does not hold {after}: an entry that is not yours is missing or was changed, "
        "so the entries of yours that follow cannot be proven; the store's operator finds "
        "where with 'consentcam audit verify'"
    )


def _check_plain(value: Any, path: str = "details") -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _check_plain(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_plain(v, f"{path}[{i}]")
    elif not isinstance(value, _PLAIN):
        raise InputError(f"audit {path} must hold plain values, not {type(value).__name__}")
