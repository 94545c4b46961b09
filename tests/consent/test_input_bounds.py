"""Issue 13, items 3 and 9: a member profile is bounded (field count, field name length, value
length, total size), and names (member, site, camera, user) refuse the invisible formatting
and text-direction characters that make a name display as something else ("abc\u202egnp.exe"
shows as "abcexe.png"). Refusals are InputError (400, exit 2) and leave the store unchanged."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from consentcam.auth.users import add_user
from consentcam.consent.context import Ledger
from consentcam.consent.members import (
    MAX_PROFILE_BYTES,
    MAX_PROFILE_FIELDS,
    MAX_PROFILE_KEY_CHARS,
    MAX_PROFILE_VALUE_CHARS,
    add_member,
    rectify_member,
)
from consentcam.consent.rights import export_member
from consentcam.consent.sites import add_camera, add_site
from consentcam.errors import InputError
from consentcam.store.models import AuditEntry, Base
from tests.support.auth import PASSWORD, use_fast_hashing

# The review's profile: five values of 2 MB each.
HUGE = {f"field{i}": "x" * 2_000_000 for i in range(5)}
TOO_BIG: dict[str, tuple[dict[str, Any], str]] = {
    "the review's 5 x 2 MB": (HUGE, "at most"),
    "one value too long": ({"note": "x" * (MAX_PROFILE_VALUE_CHARS + 1)}, "value"),
    "a long number list": ({"n": list(range(MAX_PROFILE_VALUE_CHARS))}, "value"),
    "too many fields": ({f"k{i}": 1 for i in range(MAX_PROFILE_FIELDS + 1)}, "fields"),
    "a field name too long": ({"k" * (MAX_PROFILE_KEY_CHARS + 1): 1}, "field name"),
    "an empty field name": ({"": 1}, "field name"),
    "a field name with a newline": ({"a\nb": 1}, "field name"),
    "too much in all": (
        {f"k{i}": "x" * MAX_PROFILE_VALUE_CHARS for i in range(MAX_PROFILE_FIELDS)},
        f"{MAX_PROFILE_BYTES}",
    ),
}
# Format characters (Unicode category Cf) that reorder or hide text, and other invisible ones.
DISPLAY_TRICKS = {
    "right-to-left override U+202E": "abc\u202egnp.exe",
    "left-to-right mark U+200E": "Ada\u200e",
    "left-to-right isolate U+2066": "\u2066Ada\u2069",
    "first strong isolate U+2068": "Ada\u2068x",
    "pop directional isolate U+2069": "Ada\u2069",
    "right-to-left embedding U+202B": "\u202bAda",
    "zero width space U+200B": "Ad\u200ba",
    "byte order mark U+FEFF": "\ufeffAda",
    "soft hyphen U+00AD": "Ad\u00ada",
    "line separator U+2028": "Ada\u2028Lovelace",
    "delete U+007F": "Ada\x7f",
    "C1 control U+0085": "Ada\x85",
}
# Joiners are format characters too, but Persian, Indic scripts and emoji sequences need them.
STILL_FINE = ("\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", "👩\u200d🔬 Ada", "Zoë", "名前")


def _rows(ledger: Ledger) -> dict[str, int]:
    with ledger.store.transaction() as s:
        return {
            t.name: int(s.execute(select(func.count()).select_from(t)).scalar_one())
            for t in Base.metadata.sorted_tables
        }


@pytest.mark.parametrize("case", sorted(TOO_BIG))
def test_a_profile_past_the_bounds_is_refused_and_nothing_is_stored(
    ledger: Ledger, case: str
) -> None:
    add_site(ledger, "flagship", "eu")
    fields, message = TOO_BIG[case]
    before = _rows(ledger)
    with pytest.raises(InputError, match=message) as refused:
        add_member(ledger, "flagship", "Ada", fields)
    assert _rows(ledger) == before
    assert len(str(refused.value)) < 200 and "xxxx" not in str(refused.value)


@pytest.mark.parametrize("case", sorted(TOO_BIG))
def test_a_rectification_past_the_bounds_changes_nothing(ledger: Ledger, case: str) -> None:
    add_site(ledger, "flagship", "eu")
    member = add_member(ledger, "flagship", "Ada", {"tier": "gold"})
    fields, message = TOO_BIG[case]
    before = export_member(ledger, member.id).member
    with pytest.raises(InputError, match=message):
        rectify_member(ledger, member.id, profile_fields=fields)
    assert export_member(ledger, member.id).member == before
    with ledger.store.transaction() as s:
        actions = s.execute(select(AuditEntry.action)).scalars().all()
    assert "member.rectify" not in actions


def test_a_profile_at_the_bounds_is_stored(ledger: Ledger) -> None:
    add_site(ledger, "flagship", "eu")
    per_value = (MAX_PROFILE_BYTES // MAX_PROFILE_FIELDS) - MAX_PROFILE_KEY_CHARS - 10
    fields: dict[str, Any] = {
        f"{i:02d}".ljust(MAX_PROFILE_KEY_CHARS, "k"): "v" * min(per_value, MAX_PROFILE_VALUE_CHARS)
        for i in range(MAX_PROFILE_FIELDS)
    }
    assert len(json.dumps(fields, ensure_ascii=False).encode()) <= MAX_PROFILE_BYTES
    member = add_member(ledger, "flagship", "Ada", fields)
    assert export_member(ledger, member.id).member.profile == fields
    assert rectify_member(ledger, member.id, profile_fields={"note": "ok"}).profile == {
        "note": "ok"
    }


def _name_actions(ledger: Ledger) -> dict[str, Callable[[str], object]]:
    """Every way a name enters the store, each given a valid context."""
    add_site(ledger, "flagship", "eu")
    member = add_member(ledger, "flagship", "Ada")
    return {
        "site": lambda name: add_site(ledger, name, "eu"),
        "member": lambda name: add_member(ledger, "flagship", name),
        "camera": lambda name: add_camera(ledger, "flagship", name, "door.mp4", "count", False),
        "user": lambda name: add_user(ledger, name, "staff", PASSWORD),
        "rectified member": lambda name: rectify_member(ledger, member.id, name=name),
    }


@pytest.mark.parametrize("trick", sorted(DISPLAY_TRICKS))
def test_names_with_invisible_or_direction_characters_are_refused(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch, trick: str
) -> None:
    use_fast_hashing(monkeypatch)
    actions = _name_actions(ledger)
    name = DISPLAY_TRICKS[trick]
    for kind, action in actions.items():
        before = _rows(ledger)
        with pytest.raises(InputError) as refused:
            action(name)
        message = str(refused.value)
        assert "name" in message and "U+" in message, (kind, message)
        assert name not in message, (kind, message)  # the name is not echoed
        assert _rows(ledger) == before, kind


def test_names_in_other_scripts_and_with_joiners_are_stored(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_fast_hashing(monkeypatch)
    actions = _name_actions(ledger)
    for i, name in enumerate(STILL_FINE):
        for kind, action in actions.items():
            # Site, camera and user names are unique: make each one new.
            action(name if kind in ("member", "rectified member") else f"{name} {i}{kind}")


def test_the_cli_refuses_a_direction_override_and_a_huge_profile_with_exit_2(
    run_cli: Callable[..., tuple[int, str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CONSENTCAM_TEMPLATE_KEY", raising=False)
    store = ("--data-dir", str(tmp_path / "store"))
    assert run_cli(*store, "init", "--dev")[0] == 0
    code, _, err = run_cli(*store, "site", "add", "abc\u202egnp.exe", "--jurisdiction", "eu")
    assert code == 2 and "U+202E" in err and "\u202e" not in err
    assert run_cli(*store, "site", "add", "flagship", "--jurisdiction", "eu")[0] == 0
    code, out, _ = run_cli(*store, "member", "add", "--site", "flagship", "--name", "Ada", "--json")
    member = json.loads(out)["member_id"]
    big = json.dumps({"note": "x" * 100_000})
    code, out, err = run_cli(*store, "member", "rectify", member, "--profile", big)
    assert code == 2 and out == "" and "at most" in err and len(err) < 300
