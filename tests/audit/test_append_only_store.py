"""Issue 13, item 7: the store itself refuses every way of overwriting an audit entry, not only
UPDATE and DELETE: SQLite's ``INSERT OR REPLACE`` (and ``REPLACE INTO``) deleted the old row
and inserted a new one without firing the delete trigger; upserts (``ON CONFLICT DO UPDATE``)
on both backends. And a tenant's view of the chain (anchor, verification) is its own: another
tenant's entry count or time never shows."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from consentcam.audit.chain import GENESIS, Anchor, anchor, append, verify
from consentcam.config import Settings
from consentcam.store.db import Store, open_store
from consentcam.store.models import AuditEntry

COLUMNS = "seq, tenant_id, at, actor, action, subject, details, prev_hash, hash"
FORGED = "2, NULL, '2024-01-01 00:00:00', 'mallory', 'thing', 's1', '{}', :prev, :hash"


@pytest.fixture
def store(store_settings: Settings) -> Store:
    s = open_store(store_settings, create=True)
    with s.transaction() as session:
        for i in range(4):
            tenant = "acme" if i % 2 == 0 else "globex"
            append(session, actor=tenant, action="thing", subject=f"s{i}", tenant_id=tenant)
    return s


def _entries(store: Store) -> list[tuple[int, str, str]]:
    with store.transaction() as s:
        rows = s.execute(sa.select(AuditEntry).order_by(AuditEntry.seq)).scalars()
        return [(e.seq, e.actor, e.hash) for e in rows]


def _overwrites(dialect: str) -> list[str]:
    upsert = (
        f"INSERT INTO audit ({COLUMNS}) VALUES ({FORGED}) "
        "ON CONFLICT (seq) DO UPDATE SET actor = excluded.actor, hash = excluded.hash"
    )
    if dialect == "postgresql":
        return [upsert]
    return [
        f"INSERT OR REPLACE INTO audit ({COLUMNS}) VALUES ({FORGED})",
        f"REPLACE INTO audit ({COLUMNS}) VALUES ({FORGED})",
        upsert,
    ]


def test_the_store_refuses_to_overwrite_an_entry_by_insert(store: Store) -> None:
    before = _entries(store)
    for statement in _overwrites(store.engine.dialect.name):
        refused = pytest.raises(sa.exc.DatabaseError, match="append-only")
        with refused, store.engine.begin() as conn:
            conn.execute(sa.text(statement), {"prev": GENESIS, "hash": "f" * 64})
        assert _entries(store) == before, statement
    with store.transaction() as s:
        assert verify(s).ok


def test_appending_still_works_after_a_refused_overwrite(store: Store) -> None:
    statement = _overwrites(store.engine.dialect.name)[0]
    with pytest.raises(sa.exc.DatabaseError), store.engine.begin() as conn:
        conn.execute(sa.text(statement), {"prev": GENESIS, "hash": "f" * 64})
    with store.transaction() as s:
        assert append(s, actor="t", action="later", tenant_id="acme").seq == 5
    with store.transaction() as s:
        assert verify(s).ok and verify(s).entries == 5


def test_a_tenants_anchor_is_its_own_latest_entry(store: Store) -> None:
    with store.transaction() as s:
        mine = anchor(s, tenant_id="acme")
        whole = anchor(s)
    # acme wrote entries 1 and 3, globex 2 and 4: the head (4) is globex's.
    assert whole.seq == 4
    assert mine.seq == 3 and mine.hash == _entries(store)[2][2]
    with store.transaction() as s:
        append(s, actor="globex", action="later", tenant_id="globex")
    with store.transaction() as s:
        assert anchor(s, tenant_id="acme") == mine  # globex's activity does not show
        assert anchor(s, tenant_id="nobody") == Anchor(0, GENESIS, None)


def test_a_tenants_verification_counts_and_names_only_its_entries(store: Store) -> None:
    with store.transaction() as s:
        mine = verify(s, tenant_id="acme")
        append(s, actor="globex", action="later", tenant_id="globex")
    assert (mine.ok, mine.entries) == (True, 2)
    with store.transaction() as s:
        assert verify(s, tenant_id="acme").entries == 2
        held = anchor(s, tenant_id="acme")
        assert verify(s, [held], tenant_id="acme").ok
        # An anchor on another tenant's entry is not in this tenant's log: the same answer as
        # for an entry cut off, so it cannot be used to probe what others wrote.
        theirs = anchor(s, tenant_id="globex")
        probe = verify(s, [theirs], tenant_id="acme")
        gone = verify(s, [Anchor(99, "0" * 64, theirs.at)], tenant_id="acme")
    assert not probe.ok and not gone.ok
    assert probe.reason is not None and gone.reason is not None
    assert probe.reason.replace(f"entry {theirs.seq} ", "entry N ") == gone.reason.replace(
        "entry 99 ", "entry N "
    )


def _tamper(store: Store, statement: str) -> None:
    with store.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("DROP TRIGGER audit_append_only ON audit"))
        else:
            conn.execute(sa.text("DROP TRIGGER audit_no_update"))
        conn.execute(sa.text(statement))


def test_a_break_in_another_tenants_entry_fails_without_naming_it(store: Store) -> None:
    _tamper(store, "UPDATE audit SET actor = 'mallory' WHERE seq = 2")  # globex's
    with store.transaction() as s:
        acme = verify(s, tenant_id="acme")
        globex = verify(s, tenant_id="globex")
        whole = verify(s)
    assert (whole.ok, whole.first_bad_seq) == (False, 2)
    assert (globex.ok, globex.first_bad_seq) == (False, 2) and "altered" in str(globex.reason)
    # acme's entry 3 follows the broken one: acme's evidence no longer holds from there.
    assert (acme.ok, acme.first_bad_seq, acme.entries) == (False, 3, 2)
    assert acme.reason is not None and "2" not in acme.reason and "altered" not in acme.reason
