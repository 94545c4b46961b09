from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from consentcam.audit.chain import (
    GENESIS,
    Anchor,
    anchor,
    append,
    entry_hash,
    parse_anchors,
    verify,
)
from consentcam.config import Settings
from consentcam.errors import InputError
from consentcam.store.db import Store, open_store
from consentcam.store.models import AuditEntry


@pytest.fixture
def store(store_settings: Settings) -> Store:
    s = open_store(store_settings, create=True)
    with s.transaction() as session:
        for i in range(5):
            append(session, actor="test", action="thing", subject=f"s{i}", details={"i": i})
    return s


def _tamper(store: Store, *statements: str) -> None:
    """What an attacker with the database file can do: drop the guards, then edit."""
    with store.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("DROP TRIGGER audit_append_only ON audit"))
        else:
            conn.execute(sa.text("DROP TRIGGER audit_no_update"))
            conn.execute(sa.text("DROP TRIGGER audit_no_delete"))
        for statement in statements:
            conn.execute(sa.text(statement))


def test_intact_chain_verifies(store: Store) -> None:
    with store.transaction() as s:
        result = verify(s)
    assert result.ok and result.entries == 5


def test_the_store_refuses_edits_and_deletes(store: Store) -> None:
    for statement in (
        "UPDATE audit SET actor = 'x' WHERE seq = 2",
        "DELETE FROM audit WHERE seq = 2",
    ):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), store.engine.begin() as conn:
            conn.execute(sa.text(statement))


@pytest.mark.parametrize(
    ("statements", "bad", "reason"),
    [
        (["UPDATE audit SET actor = 'mallory' WHERE seq = 3"], 3, "altered"),
        (["UPDATE audit SET details = '{\"i\": 9}' WHERE seq = 2"], 2, "altered"),
        (["DELETE FROM audit WHERE seq = 4"], 4, "missing"),
        (["DELETE FROM audit WHERE seq = 5"], None, None),  # truncating the tail: see below
        (
            [
                "UPDATE audit SET seq = 99 WHERE seq = 2",
                "UPDATE audit SET seq = 2 WHERE seq = 3",
                "UPDATE audit SET seq = 3 WHERE seq = 99",
            ],
            2,
            "does not follow",
        ),
    ],
    ids=["actor", "details", "deleted", "tail", "reordered"],
)
def test_tampering_is_detected_at_the_first_bad_entry(
    store: Store, statements: list[str], bad: int | None, reason: str | None
) -> None:
    _tamper(store, *statements)
    with store.transaction() as s:
        result = verify(s)
    if bad is None:
        # Dropping the newest entry leaves a valid shorter chain; the count exposes it, which is
        # why receipts quote their audit entry number.
        assert result.ok and result.entries == 4
        return
    assert not result.ok and result.first_bad_seq == bad
    assert reason is not None and result.reason is not None and reason in result.reason


def test_details_must_be_plain_values(store: Store) -> None:
    with store.transaction() as s, pytest.raises(InputError, match="plain values"):
        append(s, actor="t", action="x", details={"embedding": np.zeros(128)})


def test_cli_audit_verify(
    store: Store,
    store_settings: Settings,
    run_cli: Callable[..., tuple[int, str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONSENTCAM_DEV", "1")
    where = ["--data-dir", str(store_settings.data_dir)]
    if store_settings.database_url:
        where += ["--db-url", store_settings.database_url]
    code, out, _ = run_cli(*where, "audit", "verify")
    assert code == 0 and "5 entries" in out
    _tamper(store, "UPDATE audit SET subject = 'x' WHERE seq = 3")
    code, out, err = run_cli(*where, "audit", "verify", "--json")
    assert code == 2 and "entry 3 was altered" in err


def _rewrite_consistently(store: Store, seq: int, actor: str) -> None:
    """What a database writer who knows the algorithm does: edit an entry, then recompute every
    hash from there on, so the walk alone finds nothing wrong."""
    _tamper(store, f"UPDATE audit SET actor = '{actor}' WHERE seq = {seq}")
    with store.sessions() as s:
        entries = s.execute(sa.select(AuditEntry).order_by(AuditEntry.seq)).scalars().all()
        prev = entries[seq - 2].hash if seq > 1 else GENESIS
        for entry in entries[seq - 1 :]:
            entry.prev_hash = prev
            entry.hash = entry_hash(entry)
            prev = entry.hash
        s.commit()


def test_anchors_catch_a_consistent_rewrite_and_a_cut_back_tail(store: Store) -> None:
    with store.transaction() as s:
        kept = anchor(s)
    assert (kept.seq, len(kept.hash)) == (5, 64) and kept.at is not None
    with store.transaction() as s:
        assert verify(s, [kept]).ok

    _rewrite_consistently(store, 3, "mallory")
    with store.transaction() as s:
        assert verify(s).ok  # without the anchor the rewrite is invisible
        result = verify(s, [kept])
    assert not result.ok and result.first_bad_seq == 5
    assert result.reason is not None and "has changed: the log was rewritten" in result.reason

    with store.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit WHERE seq = 5"))
    with store.transaction() as s:
        assert verify(s).ok  # a shorter chain is still a chain
        result = verify(s, [kept])
    assert not result.ok and result.first_bad_seq == 5
    assert result.reason is not None and "is gone: the log was cut back" in result.reason


def test_the_empty_chain_anchors_at_genesis(store_settings: Settings) -> None:
    empty = open_store(store_settings, create=True)
    with empty.transaction() as s:
        head = anchor(s)
        assert head == Anchor(0, GENESIS, None) and verify(s, [head]).ok


@pytest.mark.parametrize(
    "line",
    ["not json", "[1, 2]", '{"seq": 1}', '{"seq": -1, "hash": "' + "a" * 64 + '"}',
     '{"seq": 1, "hash": "xyz"}', '{"seq": 1, "hash": "' + "G" * 64 + '"}'],
)  # fmt: skip
def test_a_line_that_is_no_anchor_is_named(line: str) -> None:
    good = '{"seq": 2, "hash": "' + "b" * 64 + '", "at": null}'
    with pytest.raises(InputError, match=r"anchors\.jsonl: line 3 is not an anchor"):
        parse_anchors(f"{good}\n\n{line}\n", "anchors.jsonl")
    assert parse_anchors(f"{good}\n\n", "x") == [Anchor(2, "b" * 64, None)]


def test_cli_audit_anchor_then_verify_with_anchors(
    store: Store,
    store_settings: Settings,
    run_cli: Callable[..., tuple[int, str, str]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("CONSENTCAM_DEV", "1")
    where = ["--data-dir", str(store_settings.data_dir)]
    if store_settings.database_url:
        where += ["--db-url", store_settings.database_url]
    anchors = tmp_path / "anchors.jsonl"
    code, out, _ = run_cli(*where, "audit", "anchor")
    assert code == 0 and out.count("\n") == 1 and json.loads(out)["seq"] == 5
    anchors.write_text(out)
    code, out, _ = run_cli(*where, "audit", "verify", "--anchors", str(anchors))
    assert code == 0 and "5 entries, 1 anchor(s) held" in out
    _rewrite_consistently(store, 2, "mallory")
    code, out, err = run_cli(*where, "audit", "verify", "--anchors", str(anchors), "--json")
    assert code == 2 and "the log was rewritten" in err and json.loads(out)["first_bad_entry"] == 5
    code, _, err = run_cli(*where, "audit", "verify", "--anchors", str(tmp_path / "none"))
    assert code == 2 and "cannot read the anchors" in err and err.count("\n") == 1
