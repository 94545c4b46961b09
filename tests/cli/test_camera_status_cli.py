"""`consentcam camera status`: each camera's health from the store, as JSON and as a table."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from consentcam.config import load_settings
from consentcam.consent.context import open_ledger
from consentcam.pipeline.heartbeat import Beat, record_exit, write_beat
from consentcam.store.models import Camera, utcnow

Run = Callable[..., tuple[int, str, str]]


def test_camera_status_prints_health_as_json_and_a_table(cli: Run, tmp_path: Path) -> None:
    assert cli("init", "--dev")[0] == 0
    assert cli("site", "add", "flagship", "--jurisdiction", "eu")[0] == 0
    assert cli("site", "add", "outlet", "--jurisdiction", "eu")[0] == 0
    stream = "rtsp://admin:pw-secret@10.0.0.5/live"
    assert cli("camera", "add", "flagship", "door", "--source", stream, "--mode", "count")[0] == 0
    assert cli("camera", "add", "outlet", "back", "--source", "b.mp4", "--mode", "count")[0] == 0

    ledger = open_ledger(load_settings(data_dir=tmp_path / "store", dev=True), "test")
    with ledger.store.transaction() as s:
        door = s.query(Camera).filter(Camera.name == "door").one().id
        now = utcnow()
        write_beat(s, door, Beat(7.25, 120, 3, 2, now, None), now)
        record_exit(s, door, f"cannot open {stream}", now, restart=True)

    code, out, err = cli("camera", "status", "--site", "flagship", "--json")
    assert code == 0, err
    (row,) = json.loads(out)
    assert (row["site"], row["camera"], row["state"], row["source"]) == (
        "flagship",
        "door",
        "online",
        "rtsp://10.0.0.5/…",
    )
    assert (row["fps"], row["frames"], row["dropped"], row["reconnects"], row["restarts"]) == (
        7.25,
        120,
        3,
        2,
        1,
    )
    assert row["last_error"] == "cannot open rtsp://10.0.0.5/…" and "pw-secret" not in out
    assert row["stale_after_s"] == 15.0

    code, out, _ = cli("camera", "status", "--json")
    assert code == 0
    assert [(r["site"], r["camera"], r["state"]) for r in json.loads(out)] == [
        ("flagship", "door", "online"),
        ("outlet", "back", "never seen"),
    ]
    code, out, _ = cli("camera", "status")
    assert code == 0 and "never seen" in out and "door" in out and "pw-secret" not in out

    code, out, err = cli("camera", "status", "--site", "nowhere")
    assert code == 2 and out == "" and "no site named 'nowhere'" in err
