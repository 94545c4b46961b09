"""Camera stream URLs: masked where they are stored and shown, sealed whole for the worker that
opens them, re-sealed by key rotation (threat-model residual risk 7); and which sources a camera
may have at all, over the API and from the CLI (issue 13, item 2)."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import pytest
from sqlalchemy import func, select, update

from consentcam.config import SourceSettings
from consentcam.consent.context import DEV_KEY_FILE, Ledger
from consentcam.consent.keys import rotate_keys
from consentcam.consent.sites import add_camera, add_site, check_camera_lawful
from consentcam.errors import ConfigError, InputError, PolicyError
from consentcam.pipeline.camera import camera_context
from consentcam.store.crypto import TemplateKeys
from consentcam.store.models import Camera
from tests.support.leaks import rows_mentioning

STREAM = "rtsp://admin:s3cret-pw@10.0.0.9:554/stream1?token=t0k3n"


def test_a_stream_password_and_token_are_sealed_not_stored(ledger: Ledger) -> None:
    add_site(ledger, "flagship", "eu")
    camera = add_camera(ledger, "flagship", "door", STREAM, "count", False)
    assert camera.source == "rtsp://10.0.0.9:554/…"
    assert rows_mentioning(ledger, "s3cret-pw", "t0k3n") == []  # no table, the audit log included
    assert camera_context(ledger, "door").source == STREAM  # what the worker opens

    plain = add_camera(ledger, "flagship", "lobby", "rtsp://10.0.0.8/live", "count", False)
    assert plain.source == "rtsp://10.0.0.8/…"
    assert camera_context(ledger, "lobby").source == "rtsp://10.0.0.8/live"


def test_rotation_reseals_sealed_sources_and_seals_those_left_in_clear(ledger: Ledger) -> None:
    add_site(ledger, "flagship", "eu")
    add_camera(ledger, "flagship", "door", STREAM, "count", False)
    legacy = add_camera(ledger, "flagship", "yard", "rtsp://10.0.0.7/live", "count", False)
    with ledger.store.transaction() as s:  # a row written before sources were sealed
        old = "rtsp://yard:pw2@10.0.0.7/live"
        s.execute(
            update(Camera).where(Camera.id == legacy.id).values(source=old, source_sealed=None)
        )

    new_keys = TemplateKeys(os.urandom(32))
    assert rotate_keys(ledger, new_keys).camera_sources_sealed == 2
    rotated = dataclasses.replace(ledger, keys=new_keys)
    assert camera_context(rotated, "door").source == STREAM
    assert camera_context(rotated, "yard").source == "rtsp://yard:pw2@10.0.0.7/live"
    assert rows_mentioning(ledger, "s3cret-pw", "pw2") == []
    with pytest.raises(ConfigError, match="does not open with the loaded key"):
        camera_context(ledger, "door")  # the old key opens nothing


def test_a_sealed_source_moved_to_another_camera_does_not_open(ledger: Ledger) -> None:
    add_site(ledger, "flagship", "eu")
    add_camera(ledger, "flagship", "door", STREAM, "count", False)
    other = add_camera(ledger, "flagship", "yard", "rtsp://10.0.0.7/live?x=1", "count", False)
    with ledger.store.transaction() as s:
        door = s.execute(select(Camera).where(Camera.name == "door")).scalar_one()
        s.execute(
            update(Camera).where(Camera.id == other.id).values(source_sealed=door.source_sealed)
        )
    with pytest.raises(ConfigError, match="camera 'yard'"):
        camera_context(ledger, "yard")


# --- every stream URL sealed (issue 13, item 9) -------------------------------------------------


@pytest.mark.parametrize(
    ("source", "shown", "secret"),
    [
        ("rtsp://10.0.0.9:554/live;password=s3cret-pw", "rtsp://10.0.0.9:554/…", "s3cret-pw"),
        ("http://10.0.0.9/t0k3n-in-the-path/video.mjpg", "http://10.0.0.9/…", "t0k3n"),
        ("rtsp://viewer@10.0.0.9/s3cret-pw#frag", "rtsp://10.0.0.9/…", "s3cret-pw"),
        ("rtsps://[fd00::9]:322/t0k3n", "rtsps://[fd00::9]:322/…", "t0k3n"),
        ("https://Cam.LAN/mjpeg?auth=t0k3n", "https://cam.lan/…", "t0k3n"),
    ],
)
def test_every_stream_url_is_sealed_whole_and_shown_as_scheme_host_and_port(
    ledger: Ledger, source: str, shown: str, secret: str
) -> None:
    add_site(ledger, "flagship", "eu")
    camera = add_camera(ledger, "flagship", "door", source, "count", False)
    assert camera.source == shown
    with ledger.store.transaction() as s:
        stored = s.get(Camera, camera.id)
        assert stored is not None and stored.source == shown and stored.source_sealed
    assert rows_mentioning(ledger, secret) == []
    assert camera_context(ledger, "door").source == source


def test_paths_and_webcams_are_kept_as_given(ledger: Ledger) -> None:
    add_site(ledger, "flagship", "eu")
    for name, source in (("file", "/srv/clips/door.mp4"), ("desk", "/dev/video0")):
        camera = add_camera(ledger, "flagship", name, source, "count", False)
        assert camera.source == source and camera.source_sealed is None
        assert camera_context(ledger, name).source == source


def test_rotation_seals_a_clear_url_without_credentials(ledger: Ledger) -> None:
    """A store upgraded from before every URL was sealed: a token in the path was kept in clear;
    rotation seals it like the others."""
    add_site(ledger, "flagship", "eu")
    legacy = add_camera(ledger, "flagship", "yard", "rtsp://10.0.0.7/live", "count", False)
    old = "rtsp://10.0.0.7/live;password=pw3"
    with ledger.store.transaction() as s:
        s.execute(
            update(Camera).where(Camera.id == legacy.id).values(source=old, source_sealed=None)
        )
    new_keys = TemplateKeys(os.urandom(32))
    assert rotate_keys(ledger, new_keys).camera_sources_sealed == 1
    assert rows_mentioning(ledger, "pw3") == []
    assert camera_context(dataclasses.replace(ledger, keys=new_keys), "yard").source == old


# --- which sources a camera may have (issue 13, item 2) -----------------------------------------


def _production(ledger: Ledger, **source: Any) -> Ledger:
    """The ledger as a production deployment's (no dev mode, no development key file beside the
    store), with ``source`` settings."""
    (ledger.settings.data_dir / DEV_KEY_FILE).unlink(missing_ok=True)
    settings = ledger.settings.model_copy(
        update={"dev": False, "source": SourceSettings.model_validate(source)}
    )
    return dataclasses.replace(ledger, settings=settings)


def _camera_count(ledger: Ledger) -> int:
    with ledger.store.transaction() as s:
        return int(s.execute(select(func.count()).select_from(Camera)).scalar_one())


REFUSED_OVER_THE_API = [
    # (source, error class, what the message names)
    ("http://127.0.0.1:8080/admin", PolicyError, "loopback"),
    ("rtsp://localhost./live", PolicyError, "loopback"),
    ("rtsp://127.1/live", PolicyError, "loopback"),
    ("http://169.254.169.254/latest/meta-data/", PolicyError, "link-local"),
    ("http://[fe80::1]/video", PolicyError, "link-local"),
    ("rtsp://[::ffff:127.0.0.1]/live", PolicyError, "loopback"),
    ("rtsp://[64:ff9b::7f00:1]/live", PolicyError, "loopback"),
    ("rtsp://0.0.0.0/live", PolicyError, "unspecified"),
    ("rtsp://100.64.0.1/live", PolicyError, "CAMERA_NETWORKS"),  # not a listed network
    ("rtsp://93.184.215.14/live", PolicyError, "CAMERA_NETWORKS"),  # public: not listed either
    ("rtsp://%72unsc/live", InputError, "host"),
    ("rtsp:///live", InputError, "host"),
    ("http://10.0.0.5:99999/", InputError, "port"),
    ("file:///etc/shadow", PolicyError, "only from the CLI"),
    ("/proc/self/environ", PolicyError, "only from the CLI"),
    ("door.mp4", PolicyError, "only from the CLI"),
    ("/srv/clips", PolicyError, "only from the CLI"),
    ("gopher://10.0.0.5:70/_", InputError, "scheme 'gopher'"),
    ("ftp://10.0.0.5/clip.mp4", InputError, "scheme 'ftp'"),
    ("concat:/etc/passwd|/etc/shadow", InputError, "protocol"),
    ("pipe:0", InputError, "protocol"),
    ("data:video/mp4;base64,AAAA", InputError, "protocol"),
    ("subfile,,start,0,end,0,,:/etc/passwd", InputError, "protocol"),
    ("/dev/sda", PolicyError, "only from the CLI"),
]


@pytest.mark.parametrize(("source", "error", "rule"), REFUSED_OVER_THE_API)
def test_sources_refused_over_the_api_store_nothing(
    ledger: Ledger, source: str, error: type[Exception], rule: str
) -> None:
    add_site(ledger, "flagship", "eu")
    production = _production(ledger)
    with pytest.raises(error, match=rule) as refused:
        add_camera(production, "flagship", "cam", source, "count", False, over_api=True)
    assert source not in str(refused.value)  # the rule is named, the submitted value not echoed
    assert _camera_count(ledger) == 0


@pytest.mark.parametrize(
    "source",
    [
        "rtsp://10.0.0.5:554/stream1",
        "rtsps://cam:pw@192.168.1.20/live",
        "http://172.16.4.2/video.mjpg",
        "https://[fd00::5]/mjpeg",
        "rtsp://door-cam.shop.lan/live",  # a name: its addresses are checked when it is opened
        "/dev/video0",
        "device:2",
    ],
)
def test_camera_network_streams_and_webcams_are_accepted_over_the_api(
    ledger: Ledger, source: str
) -> None:
    add_site(ledger, "flagship", "eu")
    add_camera(_production(ledger), "flagship", "cam", source, "count", False, over_api=True)
    assert camera_context(ledger, "cam").source == source


def test_the_operator_chooses_the_camera_networks(ledger: Ledger) -> None:
    add_site(ledger, "flagship", "eu")
    relay = _production(ledger, camera_networks=["127.0.0.1/32", "100.64.0.0/10"])
    add_camera(relay, "flagship", "relay", "rtsp://127.0.0.1:8554/door", "count", False)
    add_camera(relay, "flagship", "vpn", "rtsp://100.64.3.4/live", "count", False, over_api=True)
    with pytest.raises(PolicyError, match="private"):  # the default LAN ranges are replaced
        add_camera(relay, "flagship", "lan", "rtsp://10.0.0.5/live", "count", False, over_api=True)


def test_local_files_come_from_the_cli_or_where_the_operator_allows_them(ledger: Ledger) -> None:
    add_site(ledger, "flagship", "eu")
    production = _production(ledger)
    add_camera(production, "flagship", "clip", "/srv/clips/door.mp4", "count", False)  # the CLI
    with pytest.raises(PolicyError, match="link-local"):  # the CLI is held to the networks too
        add_camera(production, "flagship", "meta", "http://169.254.169.254/", "count", False)
    with pytest.raises(PolicyError, match="pseudo"):  # no file a video decoder has no use for
        add_camera(production, "flagship", "env", "/proc/self/environ", "count", False)

    files = _production(ledger, api_local_files=True)
    add_camera(files, "flagship", "api-clip", "/srv/clips/b.mp4", "count", False, over_api=True)
    for source in ("/proc/self/environ", "/sys/kernel/notes", "/dev/sda", "/srv/../proc/1/mem"):
        with pytest.raises(PolicyError, match="pseudo"):
            add_camera(files, "flagship", "x", source, "count", False, over_api=True)
    assert _camera_count(ledger) == 2


def test_a_development_store_may_use_loopback_streams_and_files_over_the_api(
    ledger: Ledger,
) -> None:
    add_site(ledger, "flagship", "eu")
    add_camera(ledger, "flagship", "sim", "http://127.0.0.1:9/cam", "count", False, over_api=True)
    add_camera(ledger, "flagship", "clip", "door.mp4", "count", False, over_api=True)
    with pytest.raises(PolicyError, match="link-local"):
        add_camera(
            ledger, "flagship", "m", "http://169.254.169.254/", "count", False, over_api=True
        )


def test_one_lawfulness_rule_for_registering_and_starting_a_camera() -> None:
    check_camera_lawful("eu", "door", True)  # allowed, signs up
    check_camera_lawful("eu", "count", False)  # counting needs no attestation
    with pytest.raises(PolicyError, match="camera 'lobby': mode 'door' recognises faces"):
        check_camera_lawful("eu", "door", False, camera="lobby")
    with pytest.raises(PolicyError, match="not allowed under the us-portland profile"):
        check_camera_lawful("us-portland", "door", True)
