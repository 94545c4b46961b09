from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def consentcam(run_cli: Run) -> Run:
    return run_cli


@pytest.fixture
def cli(consentcam: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.delenv("CONSENTCAM_TEMPLATE_KEY", raising=False)
    monkeypatch.setenv("CONSENTCAM_ACTOR", "test:cli")

    def run(*args: str) -> tuple[int, str, str]:
        return consentcam("--data-dir", str(tmp_path / "store"), *args)

    return run


@pytest.mark.parametrize("verb", [["purge"], ["purchases", "import"], ["calibrate"]], ids=" ".join)
def test_ops_verbs_have_help_with_an_example(consentcam: Run, verb: list[str]) -> None:
    code, out, _ = consentcam(*verb, "--help")
    assert code == 0 and "Example" in out and "--json" in out


def test_purchases_purge_and_calibrate_through_the_cli(cli: Run, tmp_path: Path) -> None:
    assert cli("init", "--dev")[0] == 0
    assert cli("site", "add", "flagship", "--jurisdiction", "eu")[0] == 0
    assert cli("site", "add", "shanghai", "--jurisdiction", "cn")[0] == 0
    member = json.loads(cli("member", "add", "--site", "flagship", "--name", "Ada", "--json")[1])
    member_id = member["member_id"]

    export = tmp_path / "pos.csv"
    export.write_text(
        "member_id,time,items,amount,currency\n"
        f"{member_id},2026-11-30T10:15:00+01:00,coffee;croissant,4.80,EUR\n"
    )
    code, out, _ = cli("purchases", "import", str(export), "--json")
    assert code == 0 and json.loads(out) == {"rows": 1, "members": 1}
    code, out, _ = cli("purchases", "import", str(export))
    assert code == 0 and out.strip() == "imported 1 purchase(s) for 1 member(s)"

    bad = tmp_path / "bad.csv"
    bad.write_text(f"member_id,time,items,amount,currency\n{member_id},soon,x,1.00,EUR\n")
    code, out, err = cli("purchases", "import", str(bad), "--json")
    assert code == 2 and out == "" and err.count("\n") == 1 and "line 2: time 'soon'" in err
    code, _, err = cli("purchases", "import", str(tmp_path / "missing.csv"))
    assert code == 2 and "not found" in err

    code, out, _ = cli("purge", "--json")
    report = json.loads(out)
    assert code == 0 and report["events_deleted"] == 0 and report["at"]
    assert report["templates_deleted"] == {
        "expired_consent": 0,
        "withdrawn_consent": 0,
        "inactive": 0,
    }
    code, out, _ = cli("purge")
    assert code == 0 and out.startswith("purged 0 template(s)")

    code, out, _ = cli("calibrate", "--site", "flagship", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["gallery_members"] == 0 and doc["filing"] is None
    assert 0 < doc["threshold"] < 1 and doc["model_card_version"]
    code, out, _ = cli("calibrate", "--site", "shanghai", "--target-fpir", "0.01")
    assert code == 0 and "threshold" in out and "per 1,000 non-member visitors" in out
    assert "filing: 0 people" in out and "file at 100,000" in out
    code, out, err = cli("calibrate", "--site", "shanghai", "--target-fpir", "1.5")
    assert code == 2 and out == "" and "target FPIR" in err
    code, _, err = cli("calibrate", "--site", "nowhere")
    assert code == 2 and "no site named 'nowhere'" in err

    # The cameras' operating point: the trade-off shown, a budget chosen, audited, reset.
    code, out, _ = cli("calibrate", "--site", "flagship", "--budget", "5", "--json")
    cameras = json.loads(out)["cameras"]
    assert code == 0 and cameras["budget_source"] == "site"
    assert cameras["false_alerts_per_1000"] == 5 and len(cameras["tradeoff"]) == 4
    code, out, _ = cli("calibrate", "--site", "flagship")
    assert code == 0 and "cameras: budget 5 false alert(s) per 1,000" in out and "(site)" in out
    code, out, err = cli("calibrate", "--site", "flagship", "--budget", "0.01")
    assert code == 2 and out == "" and "outside the measured range" in err
    code, out, _ = cli("calibrate", "--site", "flagship", "--default-budget", "--json")
    assert code == 0 and json.loads(out)["cameras"]["budget_source"] == "model card"

    code, out, _ = cli("audit", "verify", "--json")
    assert code == 0 and json.loads(out)["ok"] is True
