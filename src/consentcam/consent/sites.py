"""Sites and their cameras: registration under the jurisdiction's rules (the one lawfulness
rule for a camera's mode), and camera sources sealed under the store key.

Every action runs in one transaction together with its audit entry.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import ValidationError
from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.orm import Session

from consentcam.audit import chain
from consentcam.config import PipelineSettings, Settings
from consentcam.consent.camera_sources import (
    SourcePolicy,
    check_registration,
    is_url,
    source_policy,
)
from consentcam.consent.context import (
    Ledger,
    camera_by_ref,
    development_store,
    site_by_name,
    tenant_row,
)
from consentcam.consent.names import check_name
from consentcam.consent.profiles import FACE_MODES, MODES, profile
from consentcam.errors import Conflict, InputError, PolicyError
from consentcam.net import redacted_url
from consentcam.store import crypto
from consentcam.store.models import (
    Base,
    Camera,
    CameraHeartbeat,
    Claim,
    Event,
    FootfallBucket,
    Site,
    new_id,
)

MAX_SOURCE_LENGTH = 2000
# The shortest counting line, in the frame's 0-1 coordinates (5% of its width or height).
MIN_LINE_LENGTH = 0.05


def add_site(ledger: Ledger, name: str, jurisdiction: str) -> Site:
    profile(jurisdiction)  # refuse unknown codes before writing anything
    check_name(name, "site name")
    with ledger.store.transaction() as s:
        tenant = tenant_row(s, ledger.tenant)
        exists = select(Site).where(Site.name == name, Site.tenant_id == tenant.id)
        if s.execute(exists).scalar() is not None:
            # The name is not repeated: the caller sent it (issue 13, item 9).
            raise Conflict("a site with this name already exists in your tenant")
        # The id is set here so that the audit entry, written before the flush, names it.
        site = Site(id=new_id(), tenant_id=tenant.id, name=name, jurisdiction=jurisdiction)
        chain.add_audited(
            s,
            site,
            actor=ledger.actor,
            action="site.add",
            subject=site.id,
            details={"name": name, "jurisdiction": jurisdiction},
            tenant_id=tenant.id,
        )
        return site


def add_camera(
    ledger: Ledger,
    site_name: str,
    name: str,
    source: str,
    mode: str,
    signage_attested: bool,
    config: dict[str, Any] | None = None,
    *,
    over_api: bool = False,
) -> Camera:
    """Register a camera; a face mode needs a profile that allows it and signage attestation
    (privacy invariant 7: no covert operation). ``config`` overrides pipeline settings for this
    camera (its counting line, detection scale) and is checked like the settings. ``source``
    must pass the camera source rule (``consent/camera_sources.py``); ``over_api``: it comes
    from an API caller, not the local operator, so only streams on the camera networks and
    webcams (local files only where the operator allows them)."""
    if mode not in MODES:
        raise InputError(f"unknown mode {mode!r}; choose one of: {', '.join(MODES)}")
    check_name(name, "camera name")
    _check_source(source, camera_source_policy(ledger.settings), over_api=over_api)
    config = config or {}
    _check_config(ledger.settings, config)
    with ledger.store.transaction() as s:
        site = site_by_name(s, site_name, ledger.tenant_id(s))
        check_camera_lawful(site.jurisdiction, mode, signage_attested)
        if s.execute(select(Camera).where(Camera.site_id == site.id, Camera.name == name)).scalar():
            raise Conflict(f"site {site_name!r} already has a camera named {name!r}")
        camera = Camera(
            id=new_id(),
            site_id=site.id,
            name=name,
            mode=mode,
            signage_attested=signage_attested,
            config=config,
        )
        seal_camera_source(ledger.keys, camera, site.tenant_id, source)
        chain.add_audited(
            s,
            camera,
            actor=ledger.actor,
            action="camera.add",
            subject=camera.id,
            details={"site": site.name, "mode": mode, "signage_attested": signage_attested},
            tenant_id=site.tenant_id,
        )
        return camera


def update_camera(
    ledger: Ledger,
    site_name: str,
    ref: str,
    *,
    mode: str | None = None,
    source: str | None = None,
    signage_attested: bool | None = None,
    config: dict[str, Any | None] | None = None,
    over_api: bool = False,
) -> Camera:
    """Change a camera's mode, source, signage attestation or settings (``config``: a key set
    to None goes back to the site's default) under the rules ``add_camera`` applies: the
    camera's new mode and attestation together must be lawful (so the signs cannot be
    un-attested while a face mode runs), the source must pass the source rule. Refused: nothing
    changes. The audit entry names what changed (a stream URL only redacted). A running worker
    takes the change at its next start."""
    if mode is not None and mode not in MODES:
        raise InputError(f"unknown mode {mode!r}; choose one of: {', '.join(MODES)}")
    if source is not None:
        _check_source(source, camera_source_policy(ledger.settings), over_api=over_api)
    with ledger.store.transaction() as s:
        site = site_by_name(s, site_name, ledger.tenant_id(s))
        camera = camera_by_ref(s, ref, site.name, site.tenant_id)
        new_mode = camera.mode if mode is None else mode
        attested = camera.signage_attested if signage_attested is None else signage_attested
        check_camera_lawful(site.jurisdiction, new_mode, attested)
        merged = dict(camera.config or {})
        for key, value in (config or {}).items():
            if value is None:
                merged.pop(key, None)
            elif key == "footfall_line":  # the set-up view's rule too (set_footfall_line)
                merged[key] = footfall_line(tuple(value[:2]), tuple(value[2:]))
            else:
                merged[key] = value
        _check_config(ledger.settings, merged)
        changed: dict[str, Any] = {}
        if new_mode != camera.mode:
            changed["mode"] = camera.mode = new_mode
        if attested != camera.signage_attested:
            changed["signage_attested"] = camera.signage_attested = attested
        if merged != (camera.config or {}):
            camera.config = merged
            changed["config"] = merged
        if source is not None and source.strip() != camera_source(
            ledger.keys, camera, site.tenant_id
        ):
            seal_camera_source(ledger.keys, camera, site.tenant_id, source)
            changed["source"] = redacted_url(source.strip())
        if not changed:
            return camera
        chain.append(
            s,
            actor=ledger.actor,
            action="camera.update",
            subject=camera.id,
            details={"site": site.name, "camera": camera.name, **changed},
            tenant_id=site.tenant_id,
        )
        return camera


def remove_camera(ledger: Ledger, site_name: str, ref: str) -> dict[str, Any]:
    """Remove a camera: its footfall counts, open claims and health go with it; its events stay
    in the site's history without the camera. Audited in the same transaction; returns what was
    removed (counts only)."""
    with ledger.store.transaction() as s:
        site = site_by_name(s, site_name, ledger.tenant_id(s))
        camera = camera_by_ref(s, ref, site.name, site.tenant_id)
        footfall = _count(s, FootfallBucket, FootfallBucket.camera_id == camera.id)
        events = _count(s, Event, Event.camera_id == camera.id)
        s.execute(delete(FootfallBucket).where(FootfallBucket.camera_id == camera.id))
        s.execute(delete(Claim).where(Claim.camera_id == camera.id))
        s.execute(delete(CameraHeartbeat).where(CameraHeartbeat.camera_id == camera.id))
        s.execute(update(Event).where(Event.camera_id == camera.id).values(camera_id=None))
        removed = {
            "site": site.name,
            "camera": camera.name,
            "mode": camera.mode,
            "footfall_hours": footfall,
            "events_kept": events,
        }
        s.delete(camera)
        s.flush()
        chain.append(
            s,
            actor=ledger.actor,
            action="camera.remove",
            subject=camera.id,
            details=removed,
            tenant_id=site.tenant_id,
        )
        return removed


def check_camera_lawful(
    jurisdiction: str, mode: str, signage_attested: bool, *, camera: str | None = None
) -> None:
    """PolicyError unless a camera in ``mode`` may run at a site under ``jurisdiction``: the
    profile allows the mode, and a face mode has its signage attested (privacy invariant 7: no
    covert operation). One rule for registering a camera and for starting one; ``camera``
    names it in the message (a registered camera that will not start)."""
    rules = profile(jurisdiction)
    which = f"camera {camera!r}: " if camera is not None else ""
    if mode not in rules.allowed_modes:
        raise PolicyError(
            f"{which}mode {mode!r} is not allowed under the {jurisdiction} profile "
            f"({rules.name}); allowed: {', '.join(sorted(rules.allowed_modes))}"
        )
    if mode in FACE_MODES and not signage_attested:
        raise PolicyError(
            f"{which}mode {mode!r} recognises faces: attest that the signs are up "
            "(--signage-attested) before it can be used"
        )


def set_footfall_line(
    ledger: Ledger,
    camera_ref: str,
    start: tuple[float, float],
    end: tuple[float, float],
    site_name: str | None = None,
) -> Camera:
    """Store a camera's counting line from ``start`` to ``end`` (x, y in fractions of the
    frame, 0-1) where ``camera add --line`` stores it (the camera's ``footfall_line`` setting),
    audited as ``camera.line``. Crossing it from the left of its direction to the right, as the
    image is displayed, is an entry. A worker reads it when it starts (``camera_context``)."""
    line = footfall_line(start, end)
    with ledger.store.transaction() as s:
        camera = camera_by_ref(s, camera_ref, site_name, ledger.tenant_id(s))
        site = s.get(Site, camera.site_id)
        assert site is not None  # foreign key
        config = {**(camera.config or {}), "footfall_line": line}
        _check_config(ledger.settings, config)
        camera.config = config  # a new dict: the JSON column sees the change
        chain.append(
            s,
            actor=ledger.actor,
            action="camera.line",
            subject=camera.id,
            details={"site": site.name, "camera": camera.name, "line": line},
            tenant_id=site.tenant_id,
        )
        return camera


def footfall_line(start: tuple[float, float], end: tuple[float, float]) -> list[float]:
    """``[x1, y1, x2, y2]`` from two points, or ``InputError`` in words: each coordinate a
    number from 0 to 1, and the points at least MIN_LINE_LENGTH of the frame apart (a shorter
    line counts almost nobody, and one of no length cannot count at all)."""
    values = [*start, *end]
    if len(values) != 4 or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values
    ):
        raise InputError("a counting line is two points, each two numbers (x, y) from 0 to 1")
    if not all(0.0 <= v <= 1.0 for v in values):
        raise InputError(
            "a counting line's points must lie in the picture: x and y from 0 to 1 "
            "(fractions of its width and height)"
        )
    if math.hypot(values[2] - values[0], values[3] - values[1]) < MIN_LINE_LENGTH:
        raise InputError(
            f"the counting line's two points are too close together: at least "
            f"{MIN_LINE_LENGTH:.0%} of the picture apart"
        )
    return [float(v) for v in values]


def _check_config(settings: Settings, config: dict[str, Any]) -> None:
    """InputError unless ``config`` gives valid pipeline settings over the store's."""
    try:
        PipelineSettings.model_validate({**settings.pipeline.model_dump(), **config})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputError(f"invalid camera setting {where}: {first['msg']}") from None


def camera_source_policy(settings: Settings) -> SourcePolicy:
    """The camera source rule of this store: its camera networks, and loopback streams and
    local files over the API for a development store."""
    return source_policy(settings.source, dev=development_store(settings))


def seal_camera_source(
    keys: crypto.TemplateKeys, camera: Camera, tenant_id: str, source: str
) -> None:
    """Store ``source`` on the camera: a URL whole in ``source_sealed`` under the store key and
    only as ``scheme://host[:port]/…`` in ``source`` (credentials hide in the user part, the
    query, ``;password=`` parameters and the path); a path or a webcam as it is."""
    if not is_url(source.strip()):  # the worker strips what it opens
        camera.source, camera.source_sealed = source, None
        return
    camera.source = redacted_url(source.strip())
    camera.source_sealed = crypto.seal_bytes(
        keys, source.encode(), crypto.camera_source_aad(tenant_id, camera.id)
    )


def camera_source(keys: crypto.TemplateKeys, camera: Camera, tenant_id: str) -> str:
    """The camera's source as the worker opens it (credentials included)."""
    if camera.source_sealed is None:
        return camera.source
    aad = crypto.camera_source_aad(tenant_id, camera.id)
    what = f"camera {camera.name!r}: its stream URL"
    return crypto.open_bytes(keys, camera.source_sealed, aad, what).decode()


def _count(s: Session, model: type[Base], where: ColumnElement[bool]) -> int:
    return int(s.execute(select(func.count()).select_from(model).where(where)).scalar_one())


def _check_source(source: str, policy: SourcePolicy, *, over_api: bool) -> None:
    # A path or URL: no control characters (NUL cannot be stored on PostgreSQL, nor opened).
    if not source.strip() or len(source) > MAX_SOURCE_LENGTH or any(ord(c) < 32 for c in source):
        raise InputError(f"a camera source must be 1-{MAX_SOURCE_LENGTH} printable characters")
    check_registration(source.strip(), policy, over_api=over_api)  # the worker strips it too
