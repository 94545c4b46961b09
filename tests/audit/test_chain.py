from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import sqlalchemy as sa

from consentcam.audit.chain import append, verify
from consentcam.config import Settings
from consentcam.errors import InputError
from consentcam.store.db import Store, open_store


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
    assert result.reason is not None and reason in result.reason


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
