"""Each camera's health, read from the heartbeats its worker writes (``pipeline.heartbeat``).

A camera is online when its worker's heartbeat and its last frame are both fresher than the
staleness limit (``pipeline.heartbeat_stale_s``, by default three heartbeat intervals); offline
otherwise, with the reason in words; "never seen" when no worker has ever reported. The figures
are counters and times only: no face data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from consentcam.consent.context import Ledger, site_by_name
from consentcam.consent.receipts import plain
from consentcam.net import redacted_url
from consentcam.store.models import Camera, CameraHeartbeat, Site, utcnow

State = Literal["online", "offline", "never seen"]


@dataclass(frozen=True, slots=True)
class CameraHealth:
    camera_id: str
    camera: str
    site: str
    mode: str
    source: str  # redacted: scheme://host[:port]/… for a stream
    state: State
    reason: str  # the state in words
    fps: float | None
    frames: int | None
    dropped: int | None
    reconnects: int | None
    restarts: int | None
    last_frame_at: dt.datetime | None
    last_error: str | None
    error_at: dt.datetime | None
    heartbeat_at: dt.datetime | None

    def as_dict(self) -> dict[str, object]:
        document: dict[str, object] = plain(self)
        return document


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86_400:.0f} days"


def judge(beat: CameraHeartbeat | None, now: dt.datetime, stale_s: float) -> tuple[State, str]:
    """The state and its reason: online only when the worker reported and saw a frame within
    ``stale_s``."""
    if beat is None:
        return "never seen", "no worker has reported for this camera yet"
    # The supervisor writes a row before any heartbeat with updated_at at the epoch.
    if beat.updated_at.year <= 1970:
        return "offline", "its worker has not started; see the last error"
    since_beat = (now - beat.updated_at).total_seconds()
    if since_beat > stale_s:
        return "offline", (
            f"no heartbeat for {_ago(since_beat)}: its worker is not running or cannot reach "
            "the store"
        )
    if beat.last_frame_at is None:
        return "offline", "its worker is running but has had no frame yet"
    since_frame = (now - beat.last_frame_at).total_seconds()
    if since_frame > stale_s:
        return "offline", f"its worker is running but has had no frame for {_ago(since_frame)}"
    return "online", "frames arriving"


def cameras_health(
    session: Session,
    cameras: Sequence[Camera],
    sites: dict[str, str],
    stale_s: float,
    now: dt.datetime | None = None,
) -> list[CameraHealth]:
    """The health of ``cameras`` (``sites``: site id to name), in their order."""
    now = now or utcnow()
    ids = [c.id for c in cameras]
    beats = {
        b.camera_id: b
        for b in session.execute(
            select(CameraHeartbeat).where(CameraHeartbeat.camera_id.in_(ids))
        ).scalars()
    }
    out = []
    for camera in cameras:
        beat = beats.get(camera.id)
        state, reason = judge(beat, now, stale_s)
        out.append(
            CameraHealth(
                camera_id=camera.id,
                camera=camera.name,
                site=sites.get(camera.site_id, ""),
                mode=camera.mode,
                source=redacted_url(camera.source),
                state=state,
                reason=reason,
                fps=beat.fps if beat else None,
                frames=beat.frames if beat else None,
                dropped=beat.dropped if beat else None,
                reconnects=beat.reconnects if beat else None,
                restarts=beat.restarts if beat else None,
                last_frame_at=beat.last_frame_at if beat else None,
                last_error=beat.last_error if beat else None,
                error_at=beat.error_at if beat else None,
                heartbeat_at=beat.updated_at if beat and beat.updated_at.year > 1970 else None,
            )
        )
    return out


def camera_health(ledger: Ledger, site_name: str | None = None) -> list[CameraHealth]:
    """Every camera's health, of one site or of every site of the tenant, by site then name."""
    stale_s = ledger.settings.pipeline.stale_after_s
    with ledger.store.transaction() as s:
        tenant_id = ledger.tenant_id(s)
        query = select(Site).where(Site.tenant_id == tenant_id).order_by(Site.name)
        if site_name is not None:
            query = query.where(Site.id == site_by_name(s, site_name, tenant_id).id)
        sites = {site.id: site.name for site in s.execute(query).scalars()}
        cameras = s.execute(select(Camera).where(Camera.site_id.in_(list(sites)))).scalars().all()
        ordered = sorted(cameras, key=lambda c: (sites[c.site_id], c.name))
        return cameras_health(s, ordered, sites, stale_s)
