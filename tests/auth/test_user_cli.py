from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from consentcam.auth.tokens import token_principal
from consentcam.config import load_settings
from consentcam.store.db import open_store
from tests.support.auth import PASSWORD

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(run_cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.delenv("CONSENTCAM_TEMPLATE_KEY", raising=False)
    monkeypatch.delenv("CONSENTCAM_PASSWORD", raising=False)
    monkeypatch.setenv("CONSENTCAM_ACTOR", "test:cli")

    def run(*args: str) -> tuple[int, str, str]:
        return run_cli("--data-dir", str(tmp_path / "store"), *args)

    assert run("init", "--dev")[0] == 0
    assert run("site", "add", "north", "--jurisdiction", "eu")[0] == 0
    return run


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "password.txt"
    path.write_text(PASSWORD + "\n")
    return path


def _bad(result: tuple[int, str, str], message: str) -> None:
    code, out, err = result
    assert code == 2 and out == "", err
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err, err


@pytest.mark.parametrize(
    "verb", [["user"], ["user", "add"], ["user", "list"], ["user", "disable"], ["user", "token"]]
)
def test_user_verbs_have_help_with_an_example(cli: Run, verb: list[str]) -> None:
    code, out, _ = cli(*verb, "--help")
    assert code == 0 and "Example" in out


def test_add_list_token_disable(cli: Run, password_file: Path, tmp_path: Path) -> None:
    code, out, err = cli(
        "user", "add", "bob", "--role", "staff", "--site", "north",
        "--password-file", str(password_file), "--json",
    )  # fmt: skip
    assert code == 0, err
    added = json.loads(out)
    assert added["name"] == "bob" and added["role"] == "staff" and PASSWORD not in out + err

    code, out, _ = cli("user", "list", "--json")
    [listed] = json.loads(out)["users"]
    assert (listed["name"], listed["sites"], listed["disabled"]) == ("bob", ["north"], False)
    code, out, _ = cli("user", "list")
    assert out.split("\t")[:3] == ["bob", "staff", "active"]

    code, out, err = cli("user", "token", "bob", "--label", "till 3", "--days", "7", "--json")
    assert code == 0, err
    issued = json.loads(out)
    assert issued["token"].startswith(f"cc_{issued['prefix']}_") and issued["role"] == "staff"
    store = open_store(load_settings(data_dir=tmp_path / "store", dev=True))
    with store.transaction() as s:
        principal = token_principal(s, issued["token"])
    assert principal is not None and principal.user == "bob"

    code, out, err = cli("user", "token", "bob", "--label", "second")
    assert code == 0 and out.startswith("cc_") and out.count("\n") == 1
    assert "not shown again" in err

    assert cli("user", "revoke", issued["prefix"])[0] == 0
    with store.transaction() as s:
        assert token_principal(s, issued["token"]) is None

    code, out, _ = cli("user", "disable", "bob")
    assert code == 0 and "disabled" in out
    code, out, _ = cli("user", "list", "--json")
    assert json.loads(out)["users"][0]["disabled"] is True


def test_password_from_the_environment_and_tenants(
    cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONSENTCAM_PASSWORD", PASSWORD)
    assert cli("user", "add", "alice", "--role", "owner", "--tenant", "acme")[0] == 0
    assert json.loads(cli("user", "list", "--json")[1])["users"] == []
    out = cli("user", "list", "--tenant", "acme", "--json")[1]
    assert [u["name"] for u in json.loads(out)["users"]] == ["alice"]
    _bad(cli("user", "token", "alice", "--label", "x"), "no user named 'alice'")


def test_bad_input_exits_2_with_one_line(
    cli: Run, tmp_path: Path, password_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    short = tmp_path / "short.txt"
    short.write_text("hunter2")
    pw = ["--password-file", str(password_file)]
    _bad(cli("user", "add", "bob", "--role", "staff", "--password-file", str(short)), "12")
    _bad(cli("user", "add", "bob", "--role", "boss", *pw), "--role")
    _bad(cli("user", "add", "bob", "--role", "staff", "--site", "south", *pw), "south")
    # No file, no environment variable, and no terminal to prompt on.
    _bad(cli("user", "add", "bob", "--role", "staff"), "CONSENTCAM_PASSWORD")
    assert json.loads(cli("user", "list", "--json")[1])["users"] == []

    assert cli("user", "add", "bob", "--role", "staff", "--site", "north", *pw)[0] == 0
    _bad(cli("user", "add", "bob", "--role", "staff", *pw), "already exists")
    _bad(cli("user", "token", "bob", "--label", "x", "--role", "admin"), "cannot have role")
    _bad(cli("user", "token", "bob", "--label", "x", "--days", "0"), "--days")
    _bad(cli("user", "disable", "nobody"), "no user named 'nobody'")
    _bad(cli("user", "revoke", "nothing"), "no token 'nothing'")
