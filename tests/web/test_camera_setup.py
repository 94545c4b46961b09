"""The dashboard's camera set-up view in headless Chromium (issue 15, item 2): the owner sees the
camera's current picture with every face blurred, drags the counting line's two ends (and moves
one with the arrow keys), saves it, and sees the saved line after a reload; the worker reads it.
A camera whose source cannot be opened says why and still takes a line; staff are told who sets
cameras up."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from consentcam.consent.sites import add_camera
from consentcam.pipeline.camera import camera_context
from consentcam.store.models import AuditEntry
from tests.web.support import (
    SITE,
    Browser,
    Server,
    expect,
    expected_errors,
    login,
    store_settings_on_both_backends,  # noqa: F401 (the fixture)
)

SETUP = f"/dashboard?site={SITE}#camera-setup/floor"


@pytest.fixture
def floor(server: Server, photos: Path, tmp_path: Path) -> str:
    """A count camera ``floor`` whose source is a folder holding a photo of two people."""
    folder = tmp_path / "floor-frames"
    folder.mkdir()
    shutil.copy(photos / "two_people.jpg", folder / "frame.jpg")
    return add_camera(server.ledger, SITE, "floor", str(folder), "count", False).id


def _drag(page: Any, handle: Any, frame: Any, to: tuple[float, float]) -> None:
    """Drag ``handle`` with the mouse to ``to`` (fractions of ``frame``)."""
    frame.scroll_into_view_if_needed()
    start = handle.bounding_box()
    box = frame.bounding_box()
    assert start is not None and box is not None
    # From the handle's centre, a few pixels inside the picture (an end may sit on its edge).
    x = min(max(start["x"] + start["width"] / 2, box["x"] + 4), box["x"] + box["width"] - 4)
    y = min(max(start["y"] + start["height"] / 2, box["y"] + 4), box["y"] + box["height"] - 4)
    page.mouse.move(x, y)
    page.mouse.down()
    target = (box["x"] + to[0] * box["width"], box["y"] + to[1] * box["height"])
    page.mouse.move(*target, steps=8)
    page.mouse.up()


def _line(page: Any) -> list[float]:
    return [
        float(page.get_by_label(label).input_value())
        for label in ("Start: across (%)", "Start: down (%)", "End: across (%)", "End: down (%)")
    ]


def test_the_owner_draws_and_saves_the_line_on_the_blurred_picture(
    server: Server, floor: str, open_browser: Callable[..., Browser]
) -> None:
    owner = open_browser()
    page = owner.page
    login(owner, "olga", SETUP)
    panel = page.locator("#panel-camera-setup")
    expect(panel.get_by_role("heading", name="Set up camera floor")).to_be_visible()
    picture = panel.get_by_role("img", name="Current view of camera floor, every face blurred")
    expect(picture).to_be_visible()
    expect(panel.locator("#camera-setup-picture-state")).to_contain_text("1126 \u00d7 661 pixels")
    assert page.evaluate("(img) => img.naturalWidth", picture.element_handle()) == 1126
    assert picture.get_attribute("src", timeout=1000).startswith("blob:")
    expect(panel).to_contain_text("No line saved for this camera; the default runs")
    assert _line(page) == [0.0, 50.0, 100.0, 50.0]
    owner.shot("setup-preview-blurred")

    # Drag both ends with the mouse, then move the end up with the keyboard.
    frame = panel.locator(".setup-frame")
    _drag(page, panel.locator("#camera-setup-start"), frame, (0.2, 0.7))
    _drag(page, panel.locator("#camera-setup-end"), frame, (0.8, 0.75))
    expect(panel.locator("#camera-setup-end")).to_be_focused()
    for _ in range(5):
        page.keyboard.press("ArrowUp")
    start_x, start_y, end_x, end_y = _line(page)
    assert abs(start_x - 20) <= 1.5 and abs(start_y - 70) <= 1.5
    assert abs(end_x - 80) <= 1.5 and abs(end_y - 70) <= 1.5  # 75 %, then five steps up
    expect(panel).to_contain_text("Not saved yet")
    owner.shot("setup-line-drawn")

    panel.get_by_role("button", name="Save line").click()
    expect(panel.locator("#camera-setup-status")).to_contain_text("Line saved")
    saved = camera_context(server.ledger, "floor", SITE).pipeline.footfall_line
    assert [round(v * 100, 1) for v in saved] == [start_x, start_y, end_x, end_y]
    with server.ledger.store.transaction() as s:
        actions = list(
            s.execute(select(AuditEntry.action).where(AuditEntry.subject == floor)).scalars()
        )
    assert actions.count("camera.preview") == 1 and actions.count("camera.line") == 1
    owner.shot("setup-line-saved")

    # After a reload the saved line is drawn where it was left.
    page.reload()
    expect(picture).to_be_visible()
    expect(panel).to_contain_text("Saved line: it runs")
    assert _line(page) == [start_x, start_y, end_x, end_y]
    line = panel.locator("#camera-setup-line")
    x1 = float(line.get_attribute("x1") or "nan")
    assert abs(x1 - start_x / 100 * 1126) < 1
    owner.shot("setup-line-after-reload")

    # Typed positions move the drawing too; a bad one is named and nothing is sent.
    page.get_by_label("End: down (%)").fill("140")
    panel.get_by_role("button", name="Save line").click()
    expect(panel.locator("#camera-setup-status")).to_contain_text("a number from 0 to 100")
    expect(page.get_by_label("End: down (%)")).to_be_focused()
    assert camera_context(server.ledger, "floor", SITE).pipeline.footfall_line == saved

    # Back to the dashboard's tabs: the picture is let go of.
    panel.get_by_role("button", name="Back to the cameras").click()
    expect(panel).to_be_hidden()
    expect(page.get_by_role("tabpanel").first).to_be_visible()
    assert owner.errors == []


def test_the_setup_view_fits_a_phone(
    server: Server, floor: str, open_browser: Callable[..., Browser]
) -> None:
    phone = open_browser()
    page = phone.page
    page.set_viewport_size({"width": 390, "height": 844})
    login(phone, "olga", SETUP)
    panel = page.locator("#panel-camera-setup")
    expect(panel.get_by_role("img", name=re.compile("every face blurred"))).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width
    _drag(page, panel.locator("#camera-setup-start"), panel.locator(".setup-frame"), (0.1, 0.3))
    assert abs(_line(page)[1] - 30) <= 2
    phone.shot("setup-phone")
    assert phone.errors == []


def test_a_camera_without_a_picture_says_why_and_staff_are_refused(
    server: Server, floor: str, open_browser: Callable[..., Browser]
) -> None:
    owner = open_browser()
    page = owner.page
    login(owner, "olga", f"/dashboard?site={SITE}#camera-setup/door")
    expect(page.locator("#camera-setup-picture-status")).to_contain_text(
        "No picture from camera door: camera 'door': cannot open video file 'door.mp4': no such "
        "file. You can still place and save the line."
    )
    page.get_by_role("slider", name="Start of the line").focus()
    page.keyboard.press("Shift+ArrowDown")
    page.get_by_role("button", name="Save line").click()
    expect(page.locator("#camera-setup-status")).to_contain_text("Line saved")
    expect(page.locator("#camera-setup-picture-status")).to_contain_text("No picture")
    assert camera_context(server.ledger, "door", SITE).pipeline.footfall_line == (
        0.0,
        0.55,
        1.0,
        0.5,
    )
    owner.shot("setup-no-picture")
    assert expected_errors(owner, r"status of 400") == []

    # Staff are told who sets cameras up; no picture is asked for, no form is shown.
    staff = open_browser()
    login(staff, "sam", SETUP)
    told = staff.page.locator("#camera-setup-status")
    expect(told).to_contain_text("Setting a camera up needs an owner or an administrator")
    expect(staff.page.get_by_role("button", name="Save line")).to_have_count(0)
    expect(staff.page.get_by_role("img", name=re.compile("every face blurred"))).to_have_count(0)
    staff.shot("setup-staff-told")
    staff.page.get_by_role("button", name="Back to the cameras").click()
    expect(staff.page.get_by_role("tabpanel").first).to_be_visible()
    assert staff.errors == []
    with server.ledger.store.transaction() as s:
        previews = s.execute(select(AuditEntry).where(AuditEntry.action == "camera.preview"))
        assert previews.first() is None  # the owner's failed picture was not one either
