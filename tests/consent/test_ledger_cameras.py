"""Camera stream URLs with credentials: masked where they are stored and shown, sealed whole
for the worker that opens them, re-sealed by key rotation (threat-model residual risk 7)."""

from __future__ import annotations

import dataclasses
import os

import pytest
from sqlalchemy import select, update

from consentcam.consent.ledger import Ledger, add_camera, add_site
from consentcam.errors import ConfigError
from consentcam.pipeline.worker import camera_context
from consentcam.store.crypto import TemplateKeys
from consentcam.store.models import Camera
from consentcam.store.rotation import rotate_keys
from tests.security.support import rows_mentioning

STREAM = "rtsp://admin:s3cret-pw@10.0.0.9:554/stream1?token=t0k3n"


def test_a_stream_password_and_token_are_sealed_not_stored(ledger: Ledger) -> None:
    add_site(ledger, "flagship", "eu")
    camera = add_camera(ledger, "flagship", "door", STREAM, "count", False)
    assert camera.source == "rtsp://admin:***@10.0.0.9:554/stream1?***"
    assert rows_mentioning(ledger, "s3cret-pw", "t0k3n") == []  # no table, the audit log included
    assert camera_context(ledger, "door").source == STREAM  # what the worker opens

    plain = add_camera(ledger, "flagship", "lobby", "rtsp://10.0.0.8/live", "count", False)
    with ledger.store.transaction() as s:
        stored = s.get(Camera, plain.id)
        assert stored is not None and stored.source_sealed is None
    assert camera_context(ledger, "lobby").source == "rtsp://10.0.0.8/live"


def test_rotation_reseals_sealed_sources_and_seals_those_left_in_clear(ledger: Ledger) -> None:
    add_site(ledger, "flagship", "eu")
    add_camera(ledger, "flagship", "door", STREAM, "count", False)
    legacy = add_camera(ledger, "flagship", "yard", "rtsp://10.0.0.7/live", "count", False)
    with ledger.store.transaction() as s:  # a row written before sources were sealed
        old = "rtsp://yard:pw2@10.0.0.7/live"
        s.execute(update(Camera).where(Camera.id == legacy.id).values(source=old))

    new_keys = TemplateKeys(os.urandom(32))
    assert rotate_keys(ledger, new_keys)["camera_sources_sealed"] == 2
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
