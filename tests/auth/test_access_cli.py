"""The CLI verbs over the same rules as the People & access tab: change, reset-password,
enable, remove, tokens; the last active owner refused with exit 2 and one line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.auth import PASSWORD

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(run_cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.delenv("CONSENTCAM_TEMPLATE_KEY", raising=False)
    monkeypatch.setenv("CONSENTCAM_PASSWORD", PASSWORD)
    monkeypatch.setenv("CONSENTCAM_ACTOR", "test:cli")

    def run(*args: str) -> tuple[int, str, str]:
        return run_cli("--data-dir", str(tmp_path / "store"), *args)

    assert run("init", "--dev")[0] == 0
    assert run("site", "add", "north", "--jurisdiction", "eu")[0] == 0
    assert run("user", "add", "olga", "--role", "owner")[0] == 0
    assert run("user", "add", "bob", "--role", "staff")[0] == 0
    return run


def _refused(result: tuple[int, str, str], message: str) -> None:
    code, out, err = result
    assert code == 2 and out == "", err
    assert err.count("\n") == 1 and message in err, err


@pytest.mark.parametrize("verb", ["change", "reset-password", "enable", "remove", "tokens"])
def test_the_new_verbs_have_help_with_an_example(cli: Run, verb: str) -> None:
    code, out, _ = cli("user", verb, "--help")
    assert code == 0 and "Example" in out


def test_the_last_owner_is_refused_on_the_command_line(cli: Run) -> None:
    for verb in (["remove", "olga"], ["disable", "olga"], ["change", "olga", "--role", "admin"]):
        _refused(cli("user", *verb), "'olga' is the tenant's last active owner")
    users = json.loads(cli("user", "list", "--json")[1])["users"]
    assert [(u["name"], u["role"], u["disabled"]) for u in users] == [
        ("bob", "staff", False),
        ("olga", "owner", False),
    ]


def test_change_reset_disable_enable_tokens_remove(cli: Run) -> None:
    code, out, err = cli("user", "change", "bob", "--role", "kiosk", "--site", "north", "--json")
    assert code == 0, err
    assert (json.loads(out)["role"], json.loads(out)["sites"]) == ("kiosk", ["north"])
    _refused(cli("user", "change", "bob", "--site", "north", "--all-sites"), "not both")

    code, out, err = cli("user", "reset-password", "bob")
    assert code == 0 and "not shown again" in err
    password = out.strip()
    assert len(password) == 23 and password not in err

    code, out, _ = cli("user", "token", "bob", "--label", "tablet")
    token = out.strip()
    code, out, err = cli("user", "tokens", "--json")
    assert code == 0, err
    [listed] = json.loads(out)["tokens"]
    assert (listed["user"], listed["label"], listed["state"]) == ("bob", "tablet", "active")
    assert token.split("_", 2)[2] not in out

    assert cli("user", "disable", "bob")[0] == 0
    _refused(cli("user", "disable", "bob"), "already disabled")
    assert cli("user", "enable", "bob")[0] == 0
    _refused(cli("user", "enable", "bob"), "not disabled")
    code, out, err = cli("user", "remove", "bob", "--json")
    assert code == 0 and json.loads(out)["removed"] is True, err
    assert json.loads(cli("user", "tokens", "--json")[1])["tokens"] == []
    _refused(cli("user", "remove", "bob"), "no user named 'bob'")
