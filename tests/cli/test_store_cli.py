from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

Run = Callable[..., tuple[int, str, str]]


def test_init_without_a_key_is_refused_outside_dev(cli: Run, tmp_path: Path) -> None:
    code, out, err = cli("init")
    assert code == 2 and out == ""
    assert "CONSENTCAM_TEMPLATE_KEY" in err and err.count("\n") == 1
    assert not (tmp_path / "store" / "consentcam.db").exists()


def test_commands_before_init_say_what_to_do(cli: Run) -> None:
    code, _, err = cli("site", "add", "x", "--jurisdiction", "eu")
    assert code == 2 and "consentcam init" in err


def test_member_lifecycle_through_the_cli(cli: Run, photos: Path, tmp_path: Path) -> None:
    assert cli("init", "--dev")[0] == 0
    assert cli("site", "add", "flagship", "--jurisdiction", "eu")[0] == 0
    code, _, err = cli("camera", "add", "flagship", "door", "--source", "c.mp4", "--mode", "door")
    assert code == 2 and "--signage-attested" in err
    code, out, _ = cli("member", "add", "--site", "flagship", "--name", "Ada", "--json")
    member = json.loads(out)["member_id"]

    code, out, err = cli("enroll", member, str(photos / "obama.jpg"))
    assert code == 2 and out == "" and "no active consent" in err and "consent record" in err

    form = tmp_path / "form.txt"
    form.write_text("signed")
    code, out, _ = cli(
        "consent",
        "record",
        member,
        "--purpose",
        "recognition",
        "--evidence",
        str(form),
        "--expires",
        "2099-12-31",
        "--json",
    )
    assert code == 0 and json.loads(out)["expires_at"].startswith("2100-01-01")
    code, out, _ = cli("enroll", member, str(photos / "obama.jpg"), "--json")
    assert code == 0 and json.loads(out)["templates"] == 1

    code, out, _ = cli("identify", str(photos / "obama2.jpg"), "--site", "flagship", "--json")
    assert json.loads(out)["member_id"] == member
    code, out, _ = cli("identify", str(photos / "biden.jpg"), "--site", "flagship")
    assert out.strip() == "unknown"

    code, out, _ = cli("export", member)
    assert json.loads(out)["member"]["id"] == member
    code, out, _ = cli("withdraw", member, "--json")
    assert json.loads(out)["deleted_templates"] == 1
    code, out, _ = cli("identify", str(photos / "obama2.jpg"), "--site", "flagship")
    assert out.strip() == "unknown"
    code, out, _ = cli("audit", "verify", "--json")
    assert code == 0 and json.loads(out)["ok"] is True


@pytest.mark.parametrize(
    "verb",
    [
        ["init"],
        ["site", "add"],
        ["camera", "add"],
        ["member", "add"],
        ["member", "rectify"],
        ["consent", "record"],
        ["enroll"],
        ["identify"],
        ["withdraw"],
        ["erase"],
        ["export"],
        ["audit", "verify"],
    ],
    ids=" ".join,
)
def test_store_verbs_have_help_with_an_example(run_cli: Run, verb: list[str]) -> None:
    code, out, _ = run_cli(*verb, "--help")
    assert code == 0 and "Example" in out


def test_rectify_and_erase_through_the_cli(cli: Run) -> None:
    assert cli("init", "--dev")[0] == 0
    assert cli("site", "add", "flagship", "--jurisdiction", "eu")[0] == 0
    member = json.loads(cli("member", "add", "--site", "flagship", "--name", "Ada", "--json")[1])[
        "member_id"
    ]

    for args, message in [
        ([], "nothing to rectify"),
        (["--profile", "{not json"], "--profile is not valid JSON"),
        (["--profile", "[1, 2]"], "--profile must be a JSON object"),
    ]:
        code, out, err = cli("member", "rectify", member, *args)
        assert code == 2 and out == "" and message in err and err.count("\n") == 1
    code, out, _ = cli(
        "member", "rectify", member, "--name", "Ada Lovelace", "--profile", '{"tier": "gold"}',
        "--json",
    )  # fmt: skip
    assert code == 0
    assert json.loads(out) == {
        "member_id": member,
        "name": "Ada Lovelace",
        "profile": {"tier": "gold"},
    }

    # Not a terminal and no --yes: refused, nothing erased.
    code, out, err = cli("erase", member)
    assert code == 2 and out == "" and "--yes" in err
    assert json.loads(cli("export", member)[1])["member"]["name"] == "Ada Lovelace"
    code, out, _ = cli("erase", member, "--yes", "--json")
    receipt = json.loads(out)
    assert code == 0 and receipt["member_id"] == member and receipt["deleted"]["consents"] == 0
    code, _, err = cli("export", member)
    assert code == 2 and "no member" in err
    code, out, _ = cli("erase", member, "--yes")
    assert code == 2 and out == ""
