"""Browser-test fixtures: the API and pages served by uvicorn on 127.0.0.1 in a background
thread, over a development store with a site, cameras and one user per role, and headless
Chromium driven by Playwright.

Chromium is Debian's (``apt-get install chromium``), never a browser downloaded by Playwright.
Without it or Playwright the browser tests fail under CI (env ``CI`` set) and skip elsewhere.
Screenshots go to ``$CONSENTCAM_ARTIFACTS/<test name>/`` (default: the test's tmp_path).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from consentcam.config import Settings, load_settings
from consentcam.consent.context import Ledger
from consentcam.consent.sites import add_camera, add_site
from tests.auth.support import PASSWORD, use_fast_hashing

TIMEOUT_MS = 15_000  # generous: CI has two cores, and the first enrolment loads the models

try:
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
except ImportError:  # the chromium fixture fails (CI) or skips every browser test
    expect = None  # type: ignore[assignment]

CHROMIUM = os.environ.get("CONSENTCAM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # A synthetic webcam (a moving test pattern, no face), allowed without a prompt: the kiosk's
    # camera capture runs for real and the quality gate refuses the frame.
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]
SITE = "north"
USERS = {"sam": "staff", "kim": "kiosk", "olga": "owner", "audrey": "auditor"}


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"browser tests need {reason} under CI (.ci/run installs them)")
    pytest.skip(f"browser tests skipped: {reason}")


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright for Python ('pip install playwright')")
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        _unavailable(f"Chromium at {CHROMIUM} ('apt-get install chromium')")
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def chromium(playwright_driver: Any) -> Iterator[Any]:
    """One headless Chromium for the session (Debian's binary, driven by Playwright)."""
    browser = playwright_driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="session")
def face_camera_chromium(
    playwright_driver: Any, tmp_path_factory: pytest.TempPathFactory, photos: Path
) -> Iterator[Any]:
    """A Chromium whose webcam shows a person (obama.jpg, swaying a little): the kiosk's burst
    capture runs for real and the quality gate accepts its frames."""
    video = face_camera_video(tmp_path_factory.mktemp("camera") / "face.y4m", photos)
    args = [*CHROMIUM_ARGS, f"--use-file-for-fake-video-capture={video}"]
    browser = playwright_driver.chromium.launch(executable_path=CHROMIUM, args=args)
    try:
        yield browser
    finally:
        browser.close()


def face_camera_video(path: Path, photos: Path, frames: int = 30) -> Path:
    """A Y4M clip (640x480, I420) of obama.jpg moving by a few pixels, for Chromium's fake
    webcam."""
    import cv2
    import numpy as np

    from consentcam.vision.decode import load_image

    photo = load_image(photos / "obama.jpg")
    scale = 480 / photo.shape[0]
    small = cv2.resize(photo, (round(photo.shape[1] * scale), 480), interpolation=cv2.INTER_AREA)
    canvas = np.full((480, 640 + 2 * frames, 3), 90, np.uint8)
    left = (canvas.shape[1] - small.shape[1]) // 2
    canvas[:, left : left + small.shape[1]] = small
    with path.open("wb") as out:
        out.write(b"YUV4MPEG2 W640 H480 F15:1 Ip A1:1 C420jpeg\n")
        for i in range(frames):
            frame = np.ascontiguousarray(canvas[:, i : i + 640])
            out.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes())
    return path


@pytest.fixture
def store_settings(tmp_path: Path) -> Settings:
    """SQLite only: these tests check the pages; the API tests cover both store backends
    (and one browser run per test keeps CI on two cores within its time)."""
    return load_settings(data_dir=tmp_path / "store", dev=True)


@pytest.fixture
def artifacts(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    base = os.environ.get("CONSENTCAM_ARTIFACTS")
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    folder = Path(base) / name if base else tmp_path / "artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class Server:
    """The running app: its base URL, the ledger over its store, and the camera ids."""

    url: str
    ledger: Ledger
    settings: Settings
    cameras: dict[str, str] = field(default_factory=dict)


@pytest.fixture
def server(
    ledger: Ledger, store_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Server]:
    """create_app + mount_web under uvicorn on a free loopback port, with site ``north``
    (profile eu), a door camera and a count camera, and users sam (staff), kim (kiosk),
    olga (owner) and audrey (auditor), all with PASSWORD."""
    import uvicorn

    from consentcam.api.app import create_app
    from consentcam.auth.users import add_user
    from consentcam.web import mount_web

    use_fast_hashing(monkeypatch)
    add_site(ledger, SITE, "eu")
    door = add_camera(ledger, SITE, "door", "door.mp4", "door", True)
    entrance = add_camera(ledger, SITE, "entrance", "entrance.mp4", "count", False)
    for name, role in USERS.items():
        add_user(ledger, name, role, PASSWORD)

    app = create_app(store_settings, poll_interval_s=0.2, keepalive_s=2.0)
    mount_web(app)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not uv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield Server(
            f"http://127.0.0.1:{port}",
            ledger,
            store_settings,
            {"door": door.id, "entrance": entrance.id},
        )
    finally:
        uv.should_exit = True
        thread.join(timeout=10)
        sock.close()


@dataclass
class Browser:
    """One browser context (its own cookies) and page, with what the page logged."""

    page: Any
    context: Any
    artifacts: Path
    errors: list[str]
    shots: list[Path] = field(default_factory=list)

    def shot(self, name: str) -> Path:
        # Numbered per test folder, across every browser the test opened.
        number = len(list(self.artifacts.glob("*.png"))) + 1
        path = self.artifacts / f"{number:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.shots.append(path)
        return path


@pytest.fixture
def open_browser(
    chromium: Any, server: Server, artifacts: Path
) -> Iterator[Callable[..., Browser]]:
    """Open a fresh browser context (UTC, en-US) on the server; every console error or CSP
    violation a page logs fails the test."""
    yield from _browsers(chromium, server, artifacts)


@pytest.fixture
def open_face_camera_browser(
    face_camera_chromium: Any, server: Server, artifacts: Path
) -> Iterator[Callable[..., Browser]]:
    """``open_browser`` whose webcam shows a person (``face_camera_chromium``)."""
    yield from _browsers(face_camera_chromium, server, artifacts)


def _browsers(chromium: Any, server: Server, artifacts: Path) -> Iterator[Callable[..., Browser]]:
    opened: list[Browser] = []

    def open_(**options: Any) -> Browser:
        context = chromium.new_context(
            base_url=server.url,
            locale="en-US",
            timezone_id="UTC",
            viewport={"width": 1280, "height": 900},
            **options,
        )
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        errors: list[str] = []
        page.on(
            "console",
            lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
        browser = Browser(page, context, artifacts, errors)
        opened.append(browser)
        return browser

    yield open_
    for browser in opened:
        browser.context.close()


def login(browser: Browser, user: str, next_path: str = "/dashboard") -> None:
    """Log in through the login page and wait to land on ``next_path``."""
    from urllib.parse import quote

    page = browser.page
    page.goto(f"/login?next={quote(next_path, safe='')}")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(re.escape(next_path.split("?")[0])))


def expected_errors(browser: Browser, *allowed: str) -> list[str]:
    """The page's logged errors, less those matching an ``allowed`` pattern (an API error the
    test provoked is logged by Chromium as a failed resource load)."""
    return [e for e in browser.errors if not any(re.search(p, e) for p in allowed)]
