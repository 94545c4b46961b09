from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from consentcam.config import load_settings
from consentcam.consent.context import open_ledger
from consentcam.consent.sites import add_camera
from consentcam.store.models import AuditEntry, utcnow
from tests.support.events import door_alert

Run = Callable[..., tuple[int, str, str]]
# The keys scripts may rely on in 'consentcam accuracy --json' (more may follow).
ACCURACY_KEYS = (
    "site",
    "days",
    "alerts",
    "confirmed",
    "dismissed",
    "unanswered",
    "false_alert_rate",
    "ci95",
    "threshold",
    "per_camera",
)


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


@pytest.mark.parametrize(
    "verb", [["purge"], ["purchases", "import"], ["calibrate"], ["accuracy"]], ids=" ".join
)
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


def test_accuracy_and_its_threshold_through_the_cli(cli: Run, tmp_path: Path) -> None:
    assert cli("init", "--dev")[0] == 0
    assert cli("site", "add", "flagship", "--jurisdiction", "eu")[0] == 0
    ledger = open_ledger(load_settings(data_dir=tmp_path / "store", dev=True), "test:setup")
    door = add_camera(ledger, "flagship", "door", "door.mp4", "door", True).id
    now = utcnow()
    for d in [0.10, 0.12, 0.15, 0.18, 0.20, 0.22, 0.24, 0.26, 0.27, 0.28]:
        door_alert(ledger, "flagship", door, "confirmed", now - dt.timedelta(days=2), d)
    for d in [0.30, 0.32]:
        door_alert(ledger, "flagship", door, "dismissed", now - dt.timedelta(days=1), d)
    door_alert(ledger, "flagship", door, "pending", now - dt.timedelta(hours=1), 0.2)

    code, out, _ = cli("accuracy", "--site", "flagship", "--json")
    doc = json.loads(out)
    assert code == 0 and set(ACCURACY_KEYS) <= set(doc)
    assert (doc["site"], doc["days"], doc["alerts"], doc["confirmed"]) == ("flagship", 30, 13, 10)
    assert (doc["dismissed"], doc["unanswered"], doc["false_alert_rate"]) == (2, 1, 0.1667)
    assert doc["ci95"] == [0.047, 0.448] and doc["over_budget"] is True
    (camera,) = doc["per_camera"]
    assert camera["camera"] == "door" and camera["alerts"] == 13
    proposed = doc["proposal"]["threshold"]
    assert proposed == 0.29 < doc["threshold"]

    code, out, _ = cli("accuracy", "--site", "flagship", "--days", "7")
    assert code == 0 and "13 door alert(s), 10 confirmed, 2 dismissed, 1 unanswered" in out
    assert "dismissed: 16.7% (95% interval 4.7%-44.8%); budget 2.0% (default): over" in out
    assert "door: 13 alert(s)" in out and "proposed threshold 0.2900" in out
    assert "--apply-threshold 0.29" in out
    for bad in (["--site", "nowhere"], ["--site", "flagship", "--days", "0"]):
        code, out, err = cli("accuracy", *bad)
        assert code == 2 and out == "" and err.count("\n") == 1, (bad, err)
    code, _, err = cli("accuracy", "--site", "flagship", "--days", "367")
    assert code == 2 and "days must be a whole number from 1 to 366" in err
    code, _, err = cli("accuracy", "--site", "flagship", "--days", "many")
    assert code == 2 and err.count("\n") == 1

    # The calibration report carries the summary; the proposal is applied, audited, cleared.
    code, out, _ = cli("calibrate", "--site", "flagship", "--json")
    summary = json.loads(out)["accuracy"]
    assert code == 0 and summary["over_budget"] is True
    assert (summary["proposed_threshold"], summary["answered"]) == (0.29, 12)
    code, out, _ = cli("calibrate", "--site", "flagship", "--apply-threshold", str(proposed))
    assert code == 0 and "stricter threshold applied: 0.2900" in out
    code, out, _ = cli("accuracy", "--site", "flagship", "--json")
    applied = json.loads(out)
    assert applied["threshold"] == 0.29 and applied["threshold_source"] == "site override"
    assert applied["over_budget"] is False and applied["proposal"] is None
    code, out, err = cli("calibrate", "--site", "flagship", "--apply-threshold", "0.9")
    assert code == 2 and out == "" and "only makes the cameras stricter" in err
    code, _, err = cli(
        "calibrate", "--site", "flagship", "--apply-threshold", "0.2", "--clear-threshold"
    )
    assert code == 2 and "give --apply-threshold or --clear-threshold, not both" in err
    code, out, _ = cli("calibrate", "--site", "flagship", "--clear-threshold", "--json")
    assert code == 0 and json.loads(out)["accuracy"]["threshold_override"] is None
    code, out, _ = cli("calibrate", "--site", "flagship", "--dismissal-budget", "0.5", "--json")
    assert code == 0 and json.loads(out)["accuracy"]["dismissal_budget"] == 0.5
    code, _, err = cli("calibrate", "--site", "flagship", "--dismissal-budget", "1.5")
    assert code == 2 and "dismissal budget must be between 0 and 1" in err

    with ledger.store.transaction() as s:
        rows = s.execute(
            select(AuditEntry.action, AuditEntry.actor, AuditEntry.details)
            .where(AuditEntry.action.in_(["site.threshold_override", "site.dismissal_budget"]))
            .order_by(AuditEntry.seq)
        ).all()
    assert [(a, actor, d["after"]) for a, actor, d in rows] == [
        ("site.threshold_override", "test:cli", 0.29),
        ("site.threshold_override", "test:cli", None),
        ("site.dismissal_budget", "test:cli", 0.5),
    ]
    code, out, _ = cli("audit", "verify", "--json")
    assert code == 0 and json.loads(out)["ok"] is True
