"""Camera sources over the API (issue 13, items 2 and 9): only streams on the operator's camera
networks and webcams; local files only where the operator allows them; every refusal a 4xx that
names the rule without echoing the source and leaves the store as it was; stream URLs shown as
scheme, host and port only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from consentcam.config import SourceSettings
from consentcam.consent.context import DEV_KEY_FILE
from consentcam.store.crypto import KEY_ENV, KEY_FILE_ENV
from consentcam.store.models import Camera
from tests.support.seed import World


@pytest.fixture
def production(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """The world's API as a production deployment's: no dev mode, no development key beside the
    store (the same key, given in the environment), default source settings."""
    key = (world.settings.data_dir / DEV_KEY_FILE).read_text().strip()
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)
    monkeypatch.setenv(KEY_ENV, key)
    world.app.state.settings = _settings(world, tmp_path)
    try:
        yield world
    finally:
        world.app.state.settings = world.settings


def _settings(world: World, data_dir: Path, **source: Any) -> Any:
    return world.settings.model_copy(
        update={
            "dev": False,
            "data_dir": data_dir,  # no development key file there
            "source": SourceSettings.model_validate(source),
        }
    )


def _post(world: World, source: str, name: str = "cam") -> Any:
    body = {"name": name, "source": source, "mode": "count"}
    return world.call(world.principal("admin"), "POST", "/sites/north/cameras", json=body)


REFUSED = [
    ("http://127.0.0.1:5432/", 403, "loopback"),
    ("http://169.254.169.254/latest/meta-data/iam/", 403, "link-local"),
    ("rtsp://[64:ff9b::a9fe:a9fe]/live", 403, "link-local"),
    ("rtsp://localhost./live", 403, "loopback"),
    ("rtsp://203.0.113.7/live", 403, "CONSENTCAM_SOURCE__CAMERA_NETWORKS"),
    ("file:///etc/shadow", 403, "CONSENTCAM_SOURCE__API_LOCAL_FILES"),
    ("/proc/self/environ", 403, "only from the CLI"),
    ("/etc/passwd", 403, "only from the CLI"),
    ("gopher://10.0.0.5:70/_GET", 400, "rtsp://, rtsps://, http:// or https://"),
    ("concat:/etc/passwd|/etc/shadow", 400, "protocol"),
    ("pipe:0", 400, "protocol"),
    ("data:video/mp4;base64,AAAA", 400, "protocol"),
    ("rtsp://%72unsc/live", 400, "host"),
    ("http://<img src=x>/", 400, "host"),
]


@pytest.mark.parametrize(("source", "status", "rule"), REFUSED)
def test_refused_sources_name_the_rule_and_change_nothing(
    production: World, source: str, status: int, rule: str
) -> None:
    before = production.rows()
    response = _post(production, source)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert rule in error and source not in error
    assert production.rows() == before


@pytest.mark.parametrize(
    ("source", "shown"),
    [
        ("rtsp://admin:s3cret@10.0.0.5:554/stream1?token=t0k3n", "rtsp://10.0.0.5:554/…"),
        ("rtsp://10.0.0.5/live;password=s3cret", "rtsp://10.0.0.5/…"),
        ("http://192.168.1.20/t0k3n/video.mjpg", "http://192.168.1.20/…"),
        ("rtsps://door-cam.shop.lan/s3cret", "rtsps://door-cam.shop.lan/…"),
        ("/dev/video0", "/dev/video0"),
    ],
)
def test_accepted_sources_are_shown_as_scheme_host_and_port(
    production: World, source: str, shown: str
) -> None:
    response = _post(production, source)
    assert response.status_code == 201, response.text
    assert response.json()["source"] == shown
    listed = production.call(production.principal("staff"), "GET", "/sites/north/cameras")
    assert [c["source"] for c in listed.json() if c["name"] == "cam"] == [shown]
    for secret in ("s3cret", "t0k3n"):
        assert secret not in response.text and secret not in listed.text


def test_an_upgraded_stores_clear_source_is_shown_masked(world: World) -> None:
    """A row written before every stream URL was sealed (kept in clear until the next key
    rotation) is shown like the others."""
    with world.ledgers["acme"].store.transaction() as s:
        door = s.execute(select(Camera).where(Camera.site_id == world.sites["north"].id)).scalar()
        assert door is not None
        s.execute(
            update(Camera)
            .where(Camera.id == door.id)
            .values(
                source="rtsp://cam:pw@10.0.0.5/live;password=s3cret?t=t0k3n", source_sealed=None
            )
        )
    listed = world.call(world.principal("staff"), "GET", "/sites/north/cameras")
    assert [c["source"] for c in listed.json()] == ["rtsp://10.0.0.5/…"]


def test_the_operator_may_allow_local_files_over_the_api(production: World, tmp_path: Path) -> None:
    production.app.state.settings = _settings(production, tmp_path, api_local_files=True)
    assert _post(production, "/srv/clips/door.mp4").status_code == 201
    refused = _post(production, "/proc/self/environ", "env")
    assert refused.status_code == 403 and "pseudo" in refused.json()["error"]
