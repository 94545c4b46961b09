from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

Run = Callable[..., tuple[int, str, str]]

VERBS = [["detect"], ["compare"], ["eval", "lfw"], ["eval", "lfw-openset"], ["demo"]]


@pytest.mark.parametrize("verb", VERBS, ids=" ".join)
def test_every_verb_has_help_with_an_example(run_cli: Run, verb: list[str]) -> None:
    code, out, _ = run_cli(*verb, "--help")
    assert code == 0
    assert "Example" in out


def test_detect_json(run_cli: Run, photos: Path) -> None:
    code, out, err = run_cli(
        "detect", str(photos / "obama.jpg"), str(photos / "two_people.jpg"), "--json"
    )
    assert code == 0, err
    images = json.loads(out)["images"]
    assert [len(i["faces"]) for i in images] == [1, 2]
    face = images[0]["faces"][0]
    assert face["box"] == {"left": 349, "top": 142, "right": 617, "bottom": 409}
    assert len(face["landmarks"]) == 5
    assert face["quality"]["ok"] is True
    assert "embedding" not in face


def test_detect_text_output(run_cli: Run, photos: Path) -> None:
    code, out, _ = run_cli("detect", str(photos / "obama.jpg"))
    assert code == 0
    assert "1 face(s)" in out and "left=349" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"plain text, not a picture", "not a recognised image"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "corrupt or truncated"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    run_cli: Run, tmp_path: Path, content: bytes, message: str
) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(content)
    code, out, err = run_cli("detect", str(bad))
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err


def test_detect_reports_good_images_even_when_one_is_bad(
    run_cli: Run, photos: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "missing.jpg"
    code, out, err = run_cli("detect", str(photos / "obama.jpg"), str(missing), "--json")
    assert code == 2 and "no such file" in err
    images = json.loads(out)["images"]
    assert len(images[0]["faces"]) == 1 and "error" in images[1]


def test_compare_same_and_different(run_cli: Run, photos: Path) -> None:
    code, out, err = run_cli(
        "compare", str(photos / "obama.jpg"), str(photos / "obama2.jpg"), "--json"
    )
    assert code == 0, err
    same = json.loads(out)
    assert same["same_person"] is True and same["distance"] < same["threshold"]
    code, out, _ = run_cli("compare", str(photos / "obama.jpg"), str(photos / "biden.jpg"))
    assert code == 0 and "different people" in out


def test_compare_threshold_options(run_cli: Run, photos: Path) -> None:
    a, b = str(photos / "obama.jpg"), str(photos / "obama2.jpg")
    code, out, _ = run_cli("compare", a, b, "--threshold", "0.01", "--json")
    assert code == 0 and json.loads(out)["same_person"] is False
    code, _, err = run_cli("compare", a, b, "--fmr", "0.5")
    assert code == 2 and "outside the measured range" in err
    code, _, err = run_cli("compare", a, b, "--fmr", "1e-3", "--threshold", "0.5")
    assert code == 2 and "not both" in err


def test_compare_without_a_face_exits_2(run_cli: Run, photos: Path, tmp_path: Path) -> None:
    from PIL import Image

    blank = tmp_path / "blank.png"
    Image.new("RGB", (200, 200), (90, 90, 90)).save(blank)
    code, out, err = run_cli("compare", str(photos / "obama.jpg"), str(blank))
    assert code == 2 and out == "" and "no face found" in err


def test_usage_errors_exit_2(run_cli: Run) -> None:
    code, _, err = run_cli("detect")
    assert code == 2 and "Missing argument" in err
    code, _, err = run_cli("no-such-verb")
    assert code == 2


def test_invalid_environment_setting_exits_2(
    run_cli: Run, photos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONSENTCAM_VISION__DETECT__UPSAMPLE", "9")
    code, _, err = run_cli("detect", str(photos / "obama.jpg"))
    assert code == 2 and "vision.detect.upsample" in err


def test_demo_json(run_cli: Run) -> None:
    code, out, err = run_cli("demo", "--headless", "--json")
    assert code == 0, err
    report = json.loads(out)
    members = {r["photo"]: r["member"] for r in report["identified"]}
    assert members == {"obama2.jpg": "Barack Obama (sample member)", "biden.jpg": None}
    camera = report["camera"]
    (event,) = camera["events"]
    assert event["member"] == "Barack Obama (sample member)" and event["status"] == "pending"
    assert event["purchases"]["purchases"] == 3 and event["purchases"]["spend_cents"] == {
        "EUR": 4300
    }
    assert camera["member_tracks"] == 1 and camera["unknown_tracks"] >= 1
    stored = camera["stored"]
    assert stored["members"] == 1 and stored["templates (encrypted)"] == 1
    assert stored["events"] == 1 and camera["footfall"]["visits"] >= 2
    # The pending alert carries the portrait and the door snapshot for staff to compare.
    assert event["pictures"]["portrait"].endswith("/portrait")
    assert event["pictures"]["snapshot"].endswith("/snapshot")
    assert stored["pictures for staff: portrait and door snapshot (encrypted)"] == 2


def test_demo_serves_the_dashboard_with_a_one_off_login(
    run_cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    # While it "serves", the demo's store must still be there: check it from inside the call.
    checks: list[tuple[int, int, str]] = []

    def serve(app: FastAPI, **kw: object) -> None:
        client = TestClient(app)
        before = client.get("/api/v1/auth/me").status_code
        password = captured["password"]
        login = client.post("/api/v1/auth/login", json={"username": "demo", "password": password})
        me = client.get("/api/v1/auth/me")
        checks.append((before, login.status_code, me.json().get("role", "")))

    captured: dict[str, str] = {}
    real_secret = __import__("secrets").token_urlsafe

    def remembered(n: int) -> str:
        captured["password"] = real_secret(n)
        return captured["password"]

    monkeypatch.setattr(
        "consentcam.cli.demo.secrets", __import__("types").SimpleNamespace(token_urlsafe=remembered)
    )
    monkeypatch.setattr(uvicorn, "run", serve)
    code, _, err = run_cli("demo")
    assert code == 0, err
    assert "http://127.0.0.1:8000/" in err and captured["password"] in err
    assert checks == [(401, 200, "owner")]


def test_demo_leaves_nothing_behind(
    run_cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert run_cli("demo", "--headless")[0] == 0
    assert list(tmp_path.iterdir()) == []


def test_python_dash_m_entry_point() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "consentcam", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 and "consentcam" in result.stdout
