"""The camera source rule applied again when a worker opens a source (issue 13, item 2): a name is
resolved then and every address it gives must be allowed, the stream goes to the checked address,
every reconnection checks again, and local paths the decoder has no business opening are refused.
The worker's own paths (``consentcam watch``, ``run``'s camera processes) apply the store's rule."""

from __future__ import annotations

import json
import logging
import queue
import signal
import socket
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from ipaddress import ip_address, ip_network
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from consentcam.config import SourceSettings
from consentcam.consent.camera_sources import SourcePolicy
from consentcam.consent.context import Ledger, open_ledger
from consentcam.consent.sites import add_camera
from consentcam.errors import PolicyError, SourceError
from consentcam.net import IPAddress
from consentcam.pipeline import supervisor
from consentcam.pipeline.sources import LiveSource, open_source
from consentcam.pipeline.supervisor import EXIT_REFUSED, camera_process
from consentcam.store.models import Camera

from .stream_fixtures import MjpegServer, frame_connection

PRODUCTION = SourcePolicy()  # the default camera networks: private LAN ranges
FAST = SourceSettings(reconnect_initial_s=0.05, reconnect_max_s=0.2, read_timeout_s=10)
METADATA = "http://169.254.169.254/latest/meta-data/"


class _Resolver:
    """A fake DNS: each lookup returns the next answer (the last one again once they run out)."""

    def __init__(self, *answers: Sequence[str]) -> None:
        self.answers = [[ip_address(a) for a in answer] for answer in answers]
        self.asked: list[str] = []

    def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.asked.append(host)
        if not self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


@pytest.fixture
def captures(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every URL handed to OpenCV; the captures never open (nothing is contacted)."""
    import cv2

    opened: list[str] = []

    class Unopened:
        def __init__(self, url: object, *args: object) -> None:
            opened.append(str(url))

        def isOpened(self) -> bool:
            return False

        def release(self) -> None:
            pass

    monkeypatch.setattr(cv2, "VideoCapture", Unopened)
    return opened


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        (["127.0.0.1"], "loopback"),
        (["10.0.0.5", "169.254.169.254"], "link-local"),  # every address is checked
        (["64:ff9b::7f00:1"], "loopback"),
        (["203.0.113.7"], "CAMERA_NETWORKS"),
    ],
)
def test_a_name_is_resolved_when_opened_and_each_address_checked(
    captures: list[str], answer: list[str], kind: str
) -> None:
    resolver = _Resolver(answer)
    with pytest.raises(PolicyError, match=kind) as refused:
        open_source("rtsp://cam.shop.lan/live", "door-1", FAST, policy=PRODUCTION, resolve=resolver)
    assert "camera 'door-1'" in str(refused.value)
    assert resolver.asked == ["cam.shop.lan"] and captures == []


def test_the_stream_is_opened_at_the_address_that_was_checked(captures: list[str]) -> None:
    """The decoder is given the checked address, so a name that answers differently a moment
    later (DNS rebinding) cannot send it elsewhere."""
    resolver = _Resolver(["10.0.0.5"], ["127.0.0.1"])
    with pytest.raises(SourceError, match="cannot open live source"):
        open_source(
            "rtsp://cam:pw@cam.shop.lan:8554/live?x=1",
            "door-1",
            FAST,
            policy=PRODUCTION,
            resolve=resolver,
        )
    assert captures == ["rtsp://cam:pw@10.0.0.5:8554/live?x=1"]


def test_literal_addresses_are_refused_without_a_lookup(captures: list[str]) -> None:
    resolver = _Resolver()
    for url, kind in ((METADATA, "link-local"), ("rtsp://127.1/live", "loopback")):
        with pytest.raises(PolicyError, match=kind):
            open_source(url, "door-1", FAST, policy=PRODUCTION, resolve=resolver)
    assert resolver.asked == [] and captures == []


def test_a_name_that_does_not_resolve_fails_to_open(captures: list[str]) -> None:
    with pytest.raises(SourceError, match="does not resolve"):
        open_source("rtsp://gone.shop.lan/", "door-1", FAST, policy=PRODUCTION, resolve=_Resolver())
    assert captures == []


def test_the_default_rule_is_the_production_one(captures: list[str]) -> None:
    with pytest.raises(PolicyError, match="loopback"):
        open_source("http://127.0.0.1:9/cam", "door-1", FAST)
    assert captures == []


@pytest.mark.parametrize(
    "source",
    ["/proc/self/environ", "/sys/kernel/notes", "/dev/mem", "file:///proc/self/cmdline"],
)
def test_pseudo_files_are_refused_when_opened(captures: list[str], source: str) -> None:
    with pytest.raises(PolicyError, match="pseudo"):
        open_source(source, "door-1", FAST, policy=PRODUCTION)
    assert captures == []


def test_a_link_to_a_pseudo_file_is_refused_when_opened(
    captures: list[str], tmp_path: Path
) -> None:
    link = tmp_path / "door.mp4"
    link.symlink_to("/proc/self/environ")
    with pytest.raises(PolicyError, match="pseudo"):
        open_source(str(link), "door-1", FAST, policy=PRODUCTION)
    assert captures == []


@pytest.mark.parametrize(
    "source", ["concat:/etc/passwd|/etc/shadow", "pipe:0", "data:video/mp4;base64,AAAA"]
)
def test_decoder_protocols_are_refused_when_opened(captures: list[str], source: str) -> None:
    with pytest.raises(SourceError, match="protocol"):
        open_source(source, "door-1", FAST, policy=PRODUCTION)
    assert captures == []


def test_every_reconnection_checks_the_name_again(caplog: pytest.LogCaptureFixture) -> None:
    """The stream drops after 3 frames; by then its name answers with the metadata service: the
    reader keeps trying, and never connects there (nor back to the camera at that address)."""
    policy = SourcePolicy((ip_network("127.0.0.1/32"),))
    with MjpegServer(per_connection=3, interval_s=0.01).running() as server:
        url = server.url.replace("127.0.0.1", "cam.test")
        resolver = _Resolver(["127.0.0.1"], ["169.254.169.254"])
        source = open_source(url, "door-1", FAST, policy=policy, resolve=resolver)
        assert isinstance(source, LiveSource)
        with closing(source), caplog.at_level(logging.WARNING):
            frames = source.frames()
            seen = [frame_connection(next(frames).image) for _ in range(3)]
            deadline = time.monotonic() + 10
            while len(resolver.asked) < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
        connections = server.stats().connections
    assert seen == [1, 1, 1] and connections == 1
    assert len(resolver.asked) >= 3  # the first open, then each reconnection attempt
    assert "link-local" in caplog.text and source.stats().reconnects == 0


# --- the worker's own paths -----------------------------------------------------------------------


def _stored_source(ledger: Ledger, camera_id: str, source: str) -> None:
    """A source stored before sources were checked (an upgraded store's row, in clear)."""
    with ledger.store.transaction() as s:
        s.execute(
            update(Camera).where(Camera.id == camera_id).values(source=source, source_sealed=None)
        )


def test_a_camera_process_refuses_a_stored_metadata_source_and_is_not_restarted(
    site_ledger: Ledger, captures: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    camera = add_camera(site_ledger, "shop", "door-1", "rtsp://10.0.0.5/live", "count", False)
    _stored_source(site_ledger, camera.id, METADATA)
    monkeypatch.setattr(supervisor, "limit_blas_threads", lambda: None)  # not in the test process
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    stop = threading.Event()
    try:
        with pytest.raises(SystemExit) as exited:
            settings = site_ledger.settings.model_dump(mode="json")
            camera_process(settings, camera.id, queue.Queue(), stop)
    finally:  # a camera process may take over signals; this is the test process
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert exited.value.code == EXIT_REFUSED and captures == []


def test_watch_refuses_a_stored_metadata_source(
    run_cli: Callable[..., tuple[int, str, str]],
    tmp_path: Path,
    captures: list[str],
) -> None:
    def cli(*args: str) -> tuple[int, str, str]:
        return run_cli("--data-dir", str(tmp_path / "store"), *args)

    assert cli("init", "--dev")[0] == 0
    assert cli("site", "add", "shop", "--jurisdiction", "eu")[0] == 0
    code, out, err = cli(
        "camera",
        "add",
        "shop",
        "door-1",
        "--source",
        "rtsp://10.0.0.5/a",
        "--mode",
        "count",
        "--json",
    )
    assert code == 0, err
    ledger = open_ledger(_dev_settings(tmp_path / "store"), "test")
    _stored_source(ledger, json.loads(out)["camera_id"], METADATA)
    code, _, err = cli("watch", "door-1")
    assert code == 2 and "link-local" in err and err.count("\n") == 1
    assert captures == []


def _dev_settings(data_dir: Path) -> Any:
    from consentcam.config import load_settings

    return load_settings(data_dir=data_dir)
