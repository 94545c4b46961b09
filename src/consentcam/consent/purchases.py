"""Purchase history from the point of sale: CSV import and the summary staff see on an alert.

The import is all or nothing: every row is checked first, and one bad row refuses the whole file
with its line number, so a half-imported export never has to be untangled. Amounts are parsed as
decimals and stored as integer cents; a float never touches money.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import io
import re
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from consentcam.audit import chain
from consentcam.consent.context import Ledger
from consentcam.errors import InputError, NotFound
from consentcam.store.models import Member, Purchase

HEADER = ("member_id", "time", "items", "amount", "currency")
ITEM_SEPARATOR = ";"
SUMMARY_SIZE = 5
# Two decimal places at most: rounding an export's amount would silently change the record.
_AMOUNT = re.compile(r"-?[0-9]+(?:\.[0-9]{1,2})?")
_CURRENCY = re.compile(r"[A-Za-z]{3}")  # ISO 4217 letters; stored upper case
_MAX_CENTS = 2**31 - 1  # the column is a 32-bit integer on PostgreSQL
_IN_CHUNK = 500  # bound parameters per membership query


@dataclass(frozen=True, slots=True)
class _Row:
    line: int
    member_id: str
    at: dt.datetime
    items: list[str]
    amount_cents: int
    currency: str


def import_purchases(ledger: Ledger, csv_path: Path) -> dict[str, Any]:
    """Import a POS export (header ``member_id,time,items,amount,currency``); return
    ``{"rows": n, "members": m}``. Any bad row raises InputError naming its line, and then
    nothing is stored."""
    path = Path(csv_path)
    try:
        if not path.is_file():
            raise NotFound(f"{path}: purchases file not found")
        data = path.read_bytes()
    except OSError as exc:  # a name too long, no permission, an I/O error
        raise InputError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    rows = purchase_rows(path, data)
    with ledger.store.transaction() as s:
        tenant_id = ledger.tenant_id(s)
        known = _tenant_members(s, tenant_id, {r.member_id for r in rows})
        for r in rows:
            if r.member_id not in known:
                raise InputError(f"{path}: line {r.line}: unknown member {r.member_id!r}")
        s.add_all(
            Purchase(
                member_id=r.member_id,
                at=r.at,
                items={"items": r.items},
                amount_cents=r.amount_cents,
                currency=r.currency,
            )
            for r in rows
        )
        s.flush()
        result = {"rows": len(rows), "members": len(known)}
        chain.append(
            s,
            actor=ledger.actor,
            action="purchases.import",
            details={**result, "file_sha256": hashlib.sha256(data).hexdigest()},
            tenant_id=tenant_id,
        )
        return result


def purchase_summary(session: Session, member_id: str, now: dt.datetime) -> dict[str, Any]:
    """What staff see about a recognised member's shopping up to ``now``: the last visits
    (distinct UTC purchase dates, newest first), the most bought items, total spend per
    currency in cents, and the number of purchases. No purchases gives an empty summary.

    Reading this is reading a member's profile: the caller audits it with its actor."""
    rows = session.execute(
        select(Purchase.at, Purchase.items, Purchase.amount_cents, Purchase.currency)
        .where(Purchase.member_id == member_id, Purchase.at <= now)
        .order_by(Purchase.at.desc())
    ).all()
    visits: list[str] = []
    items: Counter[str] = Counter()
    spend: dict[str, int] = {}
    for at, bought, cents, currency in rows:
        day = at.date().isoformat()
        if day not in visits:
            visits.append(day)
        items.update(bought.get("items", []))
        spend[currency] = spend.get(currency, 0) + cents
    top = sorted(items.items(), key=lambda kv: (-kv[1], kv[0]))[:SUMMARY_SIZE]
    return {
        "last_visits": visits[:SUMMARY_SIZE],
        "top_items": [{"item": name, "count": n} for name, n in top],
        "spend_cents": dict(sorted(spend.items())),
        "purchases": len(rows),
    }


def purchase_rows(path: Path, data: bytes) -> list[_Row]:
    """The rows of a purchases CSV file (``data``, read from ``path``); InputError naming the
    line for anything malformed. The API checks the members of a file with it before importing."""
    body = data.removeprefix(codecs.BOM_UTF8)  # spreadsheet exports often start with one
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = body[: exc.start].count(b"\n") + 1
        raise InputError(f"{path}: line {line}: not valid UTF-8") from None
    if not text.strip():
        raise InputError(f"{path}: empty file; expected the header {','.join(HEADER)}")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[_Row] = []
    start = 1
    try:
        header = next(reader)
        if tuple(h.strip() for h in header) != HEADER:
            raise InputError(
                f"{path}: line 1: header must be {','.join(HEADER)}, got {','.join(header)}"
            )
        start = reader.line_num + 1  # a quoted field may span lines: name the record's first
        for fields in reader:
            if any(f.strip() for f in fields):  # skip blank lines, typical at the end
                rows.append(_row(path, start, fields))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise InputError(f"{path}: line {start}: malformed CSV: {exc}") from None
    return rows


def _row(path: Path, line: int, fields: list[str]) -> _Row:
    where = f"{path}: line {line}"
    if len(fields) != len(HEADER):
        raise InputError(f"{where}: expected {len(HEADER)} fields, got {len(fields)}")
    member_id, time, items, amount, currency = (f.strip() for f in fields)
    if not member_id:
        raise InputError(f"{where}: member_id is empty")
    try:
        at = dt.datetime.fromisoformat(time)
    except ValueError:
        raise InputError(f"{where}: time {time!r} is not an ISO 8601 date and time") from None
    if at.tzinfo is None:
        raise InputError(f"{where}: time {time!r} needs a UTC offset or Z")
    if not _AMOUNT.fullmatch(amount):
        raise InputError(f"{where}: amount {amount!r} must be a decimal like 12.50")
    cents = int(Decimal(amount).scaleb(2))
    if abs(cents) > _MAX_CENTS:
        raise InputError(f"{where}: amount {amount} is too large")
    if not _CURRENCY.fullmatch(currency):
        raise InputError(f"{where}: currency {currency!r} must be a 3-letter code like EUR")
    return _Row(
        line=line,
        member_id=member_id,
        at=at.astimezone(dt.UTC),
        items=[i.strip() for i in items.split(ITEM_SEPARATOR) if i.strip()],
        amount_cents=cents,
        currency=currency.upper(),
    )


def _tenant_members(s: Session, tenant_id: str, ids: set[str]) -> set[str]:
    """The given member ids that are members of the tenant (another tenant's member is as
    unknown to this import as one that does not exist)."""
    wanted = sorted(ids)
    found: set[str] = set()
    for start in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[start : start + _IN_CHUNK]
        found.update(
            s.execute(
                select(Member.id).where(Member.tenant_id == tenant_id, Member.id.in_(chunk))
            ).scalars()
        )
    return found
