"""The camera verbs through the CLI: watch (JSON lines, summary, exit codes), claim, confirm."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from consentcam.pipeline.clips import ClipTruth

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(run_cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, photos: Path) -> Run:
    """A dev store with site 'shop' and one consenting, enrolled member (Obama)."""
    monkeypatch.setenv("CONSENTCAM_ACTOR", "staff:ana")
    monkeypatch.setenv("CONSENTCAM_PIPELINE__DETECT_SCALE", "1.0")

    def run(*args: str) -> tuple[int, str, str]:
        return run_cli("--data-dir", str(tmp_path / "store"), *args)

    assert run("init", "--dev")[0] == 0
    assert run("site", "add", "shop", "--jurisdiction", "eu")[0] == 0
    return run


def _member(cli: Run, tmp_path: Path, photos: Path) -> str:
    member = json.loads(cli("member", "add", "--site", "shop", "--name", "Barack", "--json")[1])
    form = tmp_path / "form.txt"
    form.write_text("signed")
    member_id: str = member["member_id"]
    assert (
        cli("consent", "record", member_id, "--purpose", "recognition", "--evidence", str(form))[0]
        == 0
    )
    assert cli("enroll", member_id, str(photos / "obama.jpg"))[0] == 0
    return member_id


def test_watch_prints_events_as_json_lines_then_a_summary(
    cli: Run, tmp_path: Path, photos: Path, two_people_clip: tuple[Path, ClipTruth]
) -> None:
    member = _member(cli, tmp_path, photos)
    clip, truth = two_people_clip
    add = ("camera", "add", "shop", "door-1", "--source", str(clip), "--mode", "door")
    assert cli(*add, "--signage-attested")[0] == 0
    code, out, err = cli("watch", "door-1", "--json")
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    event, summary = lines
    assert event["kind"] == "recognition" and event["member_id"] == member
    assert summary["kind"] == "summary" and summary["frames"] == truth.frames
    assert summary["events"] == 1 and set(summary["stage_ms"]) >= {"detect", "embed"}

    code, out, _ = cli("confirm", event["id"], "--json")
    assert code == 0 and json.loads(out)["confirmed_by"] == "staff:ana"
    code, out, err = cli("confirm", event["id"])
    assert code == 2 and out == "" and "needs no confirmation" in err


def test_watch_refuses_bad_cameras_with_one_line(
    cli: Run, tmp_path: Path, two_people_clip: tuple[Path, ClipTruth]
) -> None:
    code, _, err = cli("watch", "nowhere")
    assert code == 2 and "no camera 'nowhere'" in err and err.count("\n") == 1
    missing = tmp_path / "missing.mp4"
    assert cli("camera", "add", "shop", "gone", "--source", str(missing), "--mode", "count")[0] == 0
    code, _, err = cli("watch", "gone")
    assert code == 2 and "camera 'gone'" in err and err.count("\n") == 1


def test_camera_settings_are_checked_when_the_camera_is_added(cli: Run) -> None:
    base = ("camera", "add", "shop", "c1", "--source", "x.mp4", "--mode", "count")
    code, _, err = cli(*base, "--line", "0,0.5,1")
    assert code == 2 and "--line" in err
    code, _, err = cli(*base, "--line", "0,0.5,1,7")
    assert code == 2 and "footfall_line" in err
    code, out, _ = cli(*base, "--line", "0.5,0,0.5,1", "--detect-scale", "0.75", "--json")
    assert code == 0 and json.loads(out)["name"] == "c1"


def test_claims_through_the_cli(
    cli: Run, tmp_path: Path, photos: Path, two_people_clip: tuple[Path, ClipTruth]
) -> None:
    member = _member(cli, tmp_path, photos)
    clip = str(two_people_clip[0])
    kiosk = ("camera", "add", "shop", "kiosk", "--source", clip, "--mode", "verify")
    assert cli(*kiosk, "--signage-attested")[0] == 0
    assert cli("camera", "add", "shop", "count-1", "--source", clip, "--mode", "count")[0] == 0
    code, out, _ = cli("claim", "kiosk", member, "--ttl", "60", "--json")
    assert code == 0 and json.loads(out)["member_id"] == member
    code, out, err = cli("watch", "kiosk", "--json")
    assert code == 0, err
    assert json.loads(out.splitlines()[0])["kind"] == "verification"
    code, _, err = cli("claim", "count-1", member)
    assert code == 2 and "verify mode" in err
    code, _, err = cli("claim", "kiosk", "no-such-member")
    assert code == 2 and "no member" in err


def test_count_camera_footfall_report(cli: Run, two_people_clip: tuple[Path, ClipTruth]) -> None:
    clip = str(two_people_clip[0])
    add = ("camera", "add", "shop", "entrance", "--source", clip, "--mode", "count")
    assert cli(*add, "--line", "0.5,0,0.5,1")[0] == 0  # a vertical line: Obama walks across it
    code, out, err = cli("watch", "entrance", "--json")
    assert code == 0, err
    assert [json.loads(line)["kind"] for line in out.splitlines()] == ["summary"]
    code, out, _ = cli("footfall", "--site", "shop", "--json")
    assert code == 0
    (hour,) = json.loads(out)["hours"]
    assert hour["camera"] == "entrance"
    assert hour["visits"] >= 2 and hour["entries"] + hour["exits"] >= 1
    code, out, _ = cli("footfall", "--site", "shop")
    assert code == 0 and "entrance:" in out and "visits" in out
    code, _, err = cli(
        "footfall", "--site", "shop", "--since", "2030-01-01", "--until", "2029-01-01"
    )
    assert code == 2 and "--since" in err


def test_run_supervises_every_camera_of_the_site(
    cli: Run, tmp_path: Path, photos: Path, two_people_clip: tuple[Path, ClipTruth]
) -> None:
    """Real camera processes: a door camera alerts for the member and a count camera counts;
    with file sources `run` ends by itself when both files have been processed."""
    member = _member(cli, tmp_path, photos)
    clip = str(two_people_clip[0])
    door = ("camera", "add", "shop", "door-1", "--source", clip, "--mode", "door")
    assert cli(*door, "--signage-attested")[0] == 0
    count = ("camera", "add", "shop", "entrance", "--source", clip, "--mode", "count")
    assert cli(*count, "--line", "0.5,0,0.5,1")[0] == 0
    code, _, err = cli("run", "--site", "shop", "--metrics-port", "0")
    assert code == 0, err
    assert "running 2 camera(s)" in err
    hours = json.loads(cli("footfall", "--site", "shop", "--json")[1])["hours"]
    assert {h["camera"] for h in hours} == {"entrance", "door-1"}
    from sqlalchemy import select

    from consentcam.config import load_settings
    from consentcam.consent.context import open_ledger
    from consentcam.store.models import Event

    ledger = open_ledger(load_settings(data_dir=tmp_path / "store"), "test")
    with ledger.store.transaction() as s:
        events = [(e.kind, e.member_id) for e in s.execute(select(Event)).scalars()]
    assert events == [("recognition", member)]


def test_run_exposes_the_sites_door_answers_with_its_metrics(
    cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stranger_clip: Path
) -> None:
    """`run --metrics-port` serves the staff answers per site beside the cameras' figures (the
    supervision itself is stubbed: the metrics endpoint is what is checked)."""
    from prometheus_client import generate_latest

    from consentcam.config import load_settings
    from consentcam.consent.context import open_ledger
    from consentcam.pipeline import metrics
    from consentcam.pipeline.supervisor import Supervisor
    from consentcam.store.models import utcnow
    from tests.support.events import door_alert

    add = ("camera", "add", "shop", "entrance", "--source", str(stranger_clip), "--mode", "count")
    assert cli(*add)[0] == 0
    ledger = open_ledger(load_settings(data_dir=tmp_path / "store"), "test")
    door_alert(ledger, "shop", None, "dismissed", utcnow(), 0.3)
    served: list[str] = []

    def serve(worker_metrics: metrics.WorkerMetrics, port: int, host: str, *more: Any) -> None:
        served.append(generate_latest(metrics.metrics_registry(worker_metrics, *more)).decode())

    monkeypatch.setattr(metrics, "serve_metrics", serve)
    monkeypatch.setattr(Supervisor, "run", lambda self, stop: None)
    code, _, err = cli("run", "--site", "shop", "--metrics-port", "9999")
    assert code == 0, err
    (text,) = served
    labels = f'site="shop",tenant="{ledger.tenant}"'
    assert f"consentcam_door_alerts_dismissed_total{{{labels}}} 1.0" in text
