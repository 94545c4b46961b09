"""Browser tests' helpers: Debian's Chromium and its arguments, Playwright's ``expect`` with a
generous timeout, the served app and a browser page as records, logging in, and a fake webcam
clip that shows a face."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from consentcam.config import Settings
from consentcam.consent.context import Ledger
from tests.support.auth import PASSWORD
from tests.support.stores import BACKENDS, backend_settings

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "SITE",
    "TIMEOUT_MS",
    "USERS",
    "Browser",
    "Server",
    "expect",
    "expected_errors",
    "face_camera_video",
    "login",
]

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


def face_camera_video(path: Path, photos: Path, frames: int = 30) -> Path:
    """A Y4M clip (640x480, I420) of obama.jpg moving by a few pixels, for Chromium's fake
    webcam."""
    # Imported on use: OpenCV and the decoder are needed by the kiosk's face-camera tests only.
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


@dataclass
class Server:
    """The running app: its base URL, the ledger over its store, and the camera ids."""

    url: str
    ledger: Ledger
    settings: Settings
    cameras: dict[str, str] = field(default_factory=dict)


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


@pytest.fixture(params=BACKENDS, name="store_settings")
def store_settings_on_both_backends(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Settings]:
    """The store of a module's browser tests on SQLite and on PostgreSQL, for pages whose work
    is the store's (users and tokens, webhooks, purchases, a camera's line). A module takes it
    by importing it; the other browser tests keep conftest's SQLite store."""
    with backend_settings(request.param, tmp_path / "store") as settings:
        yield settings
