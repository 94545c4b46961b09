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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from consentcam.api.app import create_app
from consentcam.auth.users import add_user
from consentcam.config import Settings, load_settings
from consentcam.consent.context import Ledger
from consentcam.consent.sites import add_camera, add_site
from consentcam.web import mount_web
from tests.support.auth import PASSWORD, use_fast_hashing
from tests.support.clients import serving
from tests.web.support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    SITE,
    TIMEOUT_MS,
    USERS,
    Browser,
    Server,
    face_camera_video,
)


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


@pytest.fixture
def server(
    ledger: Ledger, store_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Server]:
    """create_app + mount_web under uvicorn on a free loopback port, with site ``north``
    (profile eu), a door camera and a count camera, and users sam (staff), kim (kiosk),
    olga (owner) and audrey (auditor), all with PASSWORD."""
    use_fast_hashing(monkeypatch)
    add_site(ledger, SITE, "eu")
    door = add_camera(ledger, SITE, "door", "door.mp4", "door", True)
    entrance = add_camera(ledger, SITE, "entrance", "entrance.mp4", "count", False)
    for name, role in USERS.items():
        add_user(ledger, name, role, PASSWORD)

    app = create_app(store_settings, poll_interval_s=0.2, keepalive_s=2.0)
    mount_web(app)
    with serving(app, timeout_graceful_shutdown=1) as port:
        yield Server(
            f"http://127.0.0.1:{port}",
            ledger,
            store_settings,
            {"door": door.id, "entrance": entrance.id},
        )


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
