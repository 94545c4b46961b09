from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from consentcam.audit.chain import verify
from consentcam.consent.context import Ledger
from consentcam.consent.members import add_member
from consentcam.consent.purchases import import_purchases, purchase_summary
from consentcam.consent.sites import add_site
from consentcam.errors import InputError, NotFound
from consentcam.store.models import AuditEntry, Purchase

HEADER = "member_id,time,items,amount,currency"


@pytest.fixture
def members(ledger: Ledger) -> tuple[str, str]:
    add_site(ledger, "flagship", "eu")
    return add_member(ledger, "flagship", "Ada").id, add_member(ledger, "flagship", "Grace").id


def _csv(tmp_path: Path, *lines: str, name: str = "pos.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _count(ledger: Ledger, model: type) -> int:
    with ledger.store.transaction() as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


def _stored(ledger: Ledger) -> list[Purchase]:
    with ledger.store.transaction() as s:
        return list(s.execute(select(Purchase).order_by(Purchase.at)).scalars())


def test_import_stores_every_row_in_utc_with_cents(
    ledger: Ledger, members: tuple[str, str], tmp_path: Path
) -> None:
    ada, grace = members
    path = _csv(
        tmp_path,
        HEADER,
        f"{ada},2026-11-20T10:15:00+01:00,coffee;croissant,4.80,EUR",
        f"{ada},2026-11-20T16:00:00Z,coffee,0.10,eur",
        f"{grace},2026-11-21T09:00:00-05:00, tea ; scone ;,12,USD",
        "",
    )
    assert import_purchases(ledger, path) == {"rows": 3, "members": 2}

    utc = dt.UTC
    assert [(r.member_id, r.at, r.items, r.amount_cents, r.currency) for r in _stored(ledger)] == [
        (ada, dt.datetime(2026, 11, 20, 9, 15, tzinfo=utc), {"items": ["coffee", "croissant"]},
         480, "EUR"),
        (ada, dt.datetime(2026, 11, 20, 16, 0, tzinfo=utc), {"items": ["coffee"]}, 10, "EUR"),
        (grace, dt.datetime(2026, 11, 21, 14, 0, tzinfo=utc), {"items": ["tea", "scone"]},
         1200, "USD"),
    ]  # fmt: skip
    with ledger.store.transaction() as s:
        entry = s.execute(select(AuditEntry).order_by(AuditEntry.seq.desc())).scalars().first()
        assert entry is not None and entry.action == "purchases.import"
        assert entry.details["rows"] == 3 and entry.details["members"] == 2
        assert len(entry.details["file_sha256"]) == 64
        assert verify(s).ok


AMOUNTS = [
    ("0.1", 10),
    ("0.2", 20),
    ("0.30", 30),
    ("1.13", 113),  # float: 1.13 * 100 == 112.99999999999999
    ("4.35", 435),  # float: 4.35 * 100 == 434.99999999999994
    ("19.99", 1999),
    ("7", 700),
    ("-2.50", -250),  # a refund
    ("21474836.47", 2**31 - 1),
]


def test_amounts_become_exact_cents(
    ledger: Ledger, members: tuple[str, str], tmp_path: Path
) -> None:
    ada, _ = members
    rows = [
        f"{ada},2026-11-20T10:00:{i:02}Z,x,{amount},EUR" for i, (amount, _) in enumerate(AMOUNTS)
    ]
    import_purchases(ledger, _csv(tmp_path, HEADER, *rows))
    assert [p.amount_cents for p in _stored(ledger)] == [cents for _, cents in AMOUNTS]


def test_cents_add_up_exactly(ledger: Ledger, members: tuple[str, str], tmp_path: Path) -> None:
    ada, _ = members
    rows = [f"{ada},2026-11-20T10:00:0{i}Z,x,{a},EUR" for i, a in enumerate(["0.1", "0.2"])]
    import_purchases(ledger, _csv(tmp_path, HEADER, *rows))
    with ledger.store.transaction() as s:
        summary = purchase_summary(s, ada, dt.datetime(2027, 1, 1, tzinfo=dt.UTC))
    assert summary["spend_cents"] == {"EUR": 30}  # 0.1 + 0.2 == 0.30000000000000004 in floats


GOOD = "{a},2026-11-20T10:00:00Z,coffee,4.80,EUR"
BAD_ROWS: list[tuple[str, str]] = [
    ("0" * 32 + ",2026-11-20T10:00:00Z,coffee,4.80,EUR", "line 3: unknown member '000"),
    (",2026-11-20T10:00:00Z,coffee,4.80,EUR", "line 3: member_id is empty"),
    ("{a},yesterday,coffee,4.80,EUR", "line 3: time 'yesterday' is not an ISO 8601"),
    ("{a},2026-11-20T10:00:00,coffee,4.80,EUR", "line 3: time '2026-11-20T10:00:00' needs a UTC"),
    ("{a},2026-02-30T10:00:00Z,coffee,4.80,EUR", "line 3: time"),
    ("{a},2026-11-20T10:00:00Z,coffee,4.805,EUR", "line 3: amount '4.805'"),
    ("{a},2026-11-20T10:00:00Z,coffee,1e3,EUR", "line 3: amount '1e3'"),
    ("{a},2026-11-20T10:00:00Z,coffee,NaN,EUR", "line 3: amount 'NaN'"),
    ("{a},2026-11-20T10:00:00Z,coffee,,EUR", "line 3: amount ''"),
    ("{a},2026-11-20T10:00:00Z,coffee,4.80.1,EUR", "line 3: amount"),
    ("{a},2026-11-20T10:00:00Z,coffee,21474836.48,EUR", "line 3: amount 21474836.48 is too large"),
    ("{a},2026-11-20T10:00:00Z,coffee,4.80,EURO", "line 3: currency 'EURO'"),
    ("{a},2026-11-20T10:00:00Z,coffee,4.80,€", "line 3: currency"),
    ("{a},2026-11-20T10:00:00Z,coffee,4.80", "line 3: expected 5 fields, got 4"),
    ("{a},2026-11-20T10:00:00Z,coffee,4.80,EUR,extra", "line 3: expected 5 fields, got 6"),
    ('{a},2026-11-20T10:00:00Z,"coffee,4.80,EUR', "line 3: malformed CSV"),
]


# Store setup dominates these tests' time, so each loops over its cases on one store.
def test_a_bad_row_refuses_the_whole_file(
    ledger: Ledger, members: tuple[str, str], tmp_path: Path
) -> None:
    ada, _ = members
    for row, message in BAD_ROWS:
        path = _csv(tmp_path, HEADER, GOOD.format(a=ada), row.format(a=ada), GOOD.format(a=ada))
        _refused(ledger, path, message)


BAD_FILES: list[tuple[bytes, str]] = [
    (b"", "empty file"),
    (b"\n  \n", "empty file"),
    (b"\xef\xbb\xbf", "empty file"),
    (b"member,time,items,amount,currency\n", "line 1: header must be"),
    (b"member_id,time,items,amount\n", "line 1: header must be"),
    (b"{a},2026-11-20T10:00:00Z,coffee,4.80,EUR\n", "line 1: header must be"),
    (b'"member_id,time,items,amount,currency\n', "line 1: malformed CSV"),
    (
        b"member_id,time,items,amount,currency\n{a},2026-11-20T10:00:00Z,coffee,4.80,EUR\n"
        b"{a},2026-11-20T10:00:00Z,caf\xe9,4.80,EUR\n",
        "line 3: not valid UTF-8",
    ),
    (
        b"\xef\xbb\xbfmember_id,time,items,amount,currency\n"
        b"{a},2026-11-20T10:00:00Z,\xff,4.80,EUR\n",
        "line 2: not valid UTF-8",
    ),
]


def test_a_bad_file_is_refused(ledger: Ledger, members: tuple[str, str], tmp_path: Path) -> None:
    ada, _ = members
    path = tmp_path / "pos.csv"
    for content, message in BAD_FILES:
        path.write_bytes(content.replace(b"{a}", ada.encode()))
        _refused(ledger, path, message)


def _refused(ledger: Ledger, path: Path, message: str) -> None:
    before = _count(ledger, Purchase), _count(ledger, AuditEntry)
    with pytest.raises(InputError) as raised:
        import_purchases(ledger, path)
    assert f"{path}: {message}" in str(raised.value), (message, str(raised.value))
    assert (_count(ledger, Purchase), _count(ledger, AuditEntry)) == before, message


def test_a_missing_file_is_not_found(ledger: Ledger, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="purchases file not found"):
        import_purchases(ledger, tmp_path / "nope.csv")


def test_a_byte_order_mark_and_a_header_only_file_are_fine(
    ledger: Ledger, members: tuple[str, str], tmp_path: Path
) -> None:
    ada, _ = members
    path = tmp_path / "excel.csv"
    path.write_bytes(f"\ufeff{HEADER}\r\n{ada},2026-11-20T10:00:00Z,x,1.00,EUR\r\n".encode())
    assert import_purchases(ledger, path) == {"rows": 1, "members": 1}
    assert import_purchases(ledger, _csv(tmp_path, HEADER, name="quiet-day.csv")) == {
        "rows": 0,
        "members": 0,
    }


def test_summary_for_the_alert_card(
    ledger: Ledger, members: tuple[str, str], tmp_path: Path
) -> None:
    ada, grace = members
    rows = [
        f"{ada},2026-11-0{day}T1{day}:00:00Z,{items},2.50,EUR"
        for day, items in [
            (1, "coffee;bagel"),
            (2, "coffee"),
            (3, "tea;bagel"),
            (4, "coffee"),
            (5, "juice"),
            (6, "coffee;scone;jam;honey;milk"),
        ]
    ]
    rows += [
        f"{ada},2026-11-06T18:00:00Z,coffee,1.00,USD",  # a second visit the same day
        f"{ada},2026-12-01T10:00:00Z,future,9.99,EUR",  # after 'now': not shown
        f"{grace},2026-11-06T10:00:00Z,tea,3.00,EUR",
    ]
    import_purchases(ledger, _csv(tmp_path, HEADER, *rows))
    now = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
    with ledger.store.transaction() as s:
        summary: dict[str, Any] = purchase_summary(s, ada, now)
        empty = purchase_summary(s, "0" * 32, now)
    assert summary == {
        "last_visits": ["2026-11-06", "2026-11-05", "2026-11-04", "2026-11-03", "2026-11-02"],
        "top_items": [
            {"item": "coffee", "count": 5},
            {"item": "bagel", "count": 2},
            {"item": "honey", "count": 1},
            {"item": "jam", "count": 1},
            {"item": "juice", "count": 1},
        ],
        "spend_cents": {"EUR": 1500, "USD": 100},
        "purchases": 7,
    }
    assert empty == {"last_visits": [], "top_items": [], "spend_cents": {}, "purchases": 0}
