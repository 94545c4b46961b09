"""The dashboard's Cameras tab in headless Chromium (issue 15): an owner adds a camera in the
page, sees it go online from a running worker fed by a local MJPEG stream and offline after the
worker stops; a refused change is shown in words and changes nothing; the counting line is
edited and the camera removed (asked first, audited); staff see the status only."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import select

from consentcam.config import Settings
from consentcam.consent.sites import camera_source_policy
from consentcam.pipeline.camera import camera_context
from consentcam.pipeline.clips import ClipTruth
from consentcam.pipeline.simcam import SimulatedCamera, clip_jpegs, looped
from consentcam.pipeline.sources import open_source
from consentcam.pipeline.worker import CameraWorker, run_camera
from consentcam.store.models import AuditEntry, Camera
from tests.support.stores import BACKENDS, backend_settings
from tests.web.support import Browser, Server, expect, expected_errors, login

STALE_S = 2.0


@pytest.fixture(params=BACKENDS)
def store_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """The browser tests' store, on SQLite and PostgreSQL (health is read from the store), with
    a heartbeat twice a second and a camera offline after two seconds without one, so the test
    sees both states within its timeouts."""
    with backend_settings(request.param, tmp_path / "store") as settings:
        fast = settings.pipeline.model_copy(
            update={"heartbeat_s": 0.5, "heartbeat_stale_s": STALE_S}
        )
        yield settings.model_copy(update={"pipeline": fast})


@contextmanager
def running_worker(server: Server, camera: str) -> Iterator[list[BaseException]]:
    """The camera's worker in a thread, as ``consentcam run`` runs it (with its heartbeat),
    until the block ends; yields the errors it met."""
    stop = threading.Event()
    errors: list[BaseException] = []
    ledger = server.ledger

    def work() -> None:
        try:
            ctx = camera_context(ledger, camera)
            worker = CameraWorker(ledger, ctx)
            policy = camera_source_policy(ledger.settings)
            source = open_source(ctx.source, ctx.camera, ledger.settings.source, policy=policy)
            try:
                run_camera(worker, source, stop=stop, heartbeat=True)
            finally:
                source.close()
        except BaseException as exc:  # reported to the test
            errors.append(exc)

    thread = threading.Thread(target=work, name=f"worker-{camera}", daemon=True)
    thread.start()
    try:
        yield errors
    finally:
        stop.set()
        thread.join(15)


def test_an_owner_adds_a_camera_and_sees_it_online_then_offline(
    server: Server,
    open_browser: Callable[..., Browser],
    two_people_clip: tuple[Path, ClipTruth],
) -> None:
    owner = open_browser()
    page = owner.page
    login(owner, "olga")
    page.get_by_role("tab", name="Cameras").click()
    panel = page.get_by_role("tabpanel", name="Cameras")
    expect(panel.get_by_role("listitem", name="door")).to_contain_text("Never seen")

    with SimulatedCamera(looped(clip_jpegs(two_people_clip[0])), fps=15).running() as simcam:
        stream = simcam.url.replace("http://", "http://viewer:pw-secret@")
        form = panel.locator("#camera-add-form")
        form.get_by_label("Camera name").fill("backroom")
        form.get_by_label("Source").fill(stream)
        form.get_by_label("Mode").select_option("count")
        form.get_by_label("Counting line (optional)").fill("0,0.5,1,0.5")
        form.get_by_role("button", name="Add camera").click()
        expect(form).to_contain_text("Camera backroom added")
        card = panel.get_by_role("listitem", name="backroom")
        expect(card).to_contain_text("Never seen")
        expect(card).to_contain_text(f"http://127.0.0.1:{simcam.port}/…")  # masked
        assert "pw-secret" not in page.content()

        with running_worker(server, "backroom") as errors:
            expect(card.locator(".camera-state")).to_contain_text("Online")
            expect(card.locator(".camera-state")).to_contain_text("frames arriving")
            expect(card).not_to_contain_text(re.compile(r"Frames per second—"))
            owner.shot("camera-online")
            page.set_viewport_size({"width": 390, "height": 844})
            owner.shot("camera-online-phone")
            page.set_viewport_size({"width": 1280, "height": 800})
        assert errors == []
        # Stopped: offline once the heartbeat is older than the staleness limit.
        expect(card.locator(".camera-state")).to_contain_text("Offline", timeout=20_000)
        expect(card.locator(".camera-state")).to_contain_text("no heartbeat for")
        owner.shot("camera-offline")

    # A face mode without the signs: refused in words, nothing changed.
    card.get_by_role("button", name="Edit camera backroom").click()
    edit = card.get_by_role("form", name="Edit camera backroom")
    edit.get_by_label("Mode").select_option("door")
    edit.get_by_role("button", name="Save changes").click()
    expect(edit).to_contain_text("Not saved:")
    expect(edit).to_contain_text("attest that the signs are up")
    owner.shot("camera-change-refused")
    with server.ledger.store.transaction() as s:
        row = s.execute(select(Camera).where(Camera.name == "backroom")).scalar_one()
        assert (row.mode, row.signage_attested) == ("count", False)
        assert row.config == {"footfall_line": [0.0, 0.5, 1.0, 0.5]}

    # The counting line, changed from the keyboard.
    edit.get_by_label("Mode").select_option("count")
    line = edit.get_by_label("Counting line (optional)")
    line.fill("0,0.6,1,0.6")
    line.press("Enter")
    expect(card).to_contain_text("0.00, 0.60, 1.00, 0.60")
    expect(card.get_by_role("heading", name="backroom")).to_be_focused()

    # Removed: asked first, audited.
    card.get_by_role("button", name="Remove camera backroom").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("footfall counts")
    dialog.get_by_role("button", name="Remove camera").click()
    expect(panel.locator("#cameras-status")).to_contain_text("Camera backroom removed.")
    expect(panel.get_by_role("listitem", name="backroom")).to_have_count(0)
    with server.ledger.store.transaction() as s:
        actions = list(
            s.execute(select(AuditEntry.action).where(AuditEntry.action.like("camera.%"))).scalars()
        )
    assert actions.count("camera.add") == 3  # the fixture's two, and backroom
    assert actions.count("camera.update") == 1 and actions.count("camera.remove") == 1
    assert expected_errors(owner, r"status of 403") == []


def test_staff_see_the_status_only(server: Server, open_browser: Callable[..., Browser]) -> None:
    staff = open_browser()
    page = staff.page
    login(staff, "sam")
    page.get_by_role("tab", name="Cameras").click()
    panel = page.get_by_role("tabpanel", name="Cameras")
    door = panel.get_by_role("listitem", name="door")
    expect(door).to_contain_text("Never seen")
    expect(door).to_contain_text("door (1:N at the entrance; staff confirm)")
    expect(door).to_contain_text("door.mp4")
    expect(panel.get_by_role("listitem", name="entrance")).to_be_visible()
    expect(panel.get_by_role("button")).to_have_count(0)
    expect(panel.locator("#camera-add-form")).to_have_count(0)
    staff.shot("cameras-staff")
    assert staff.errors == []
