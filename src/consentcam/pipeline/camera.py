"""A camera as its worker sees it: read once from the store, and refused unless it may run.

Privacy invariant 7, checked again at every start: a face mode runs only where the site's
jurisdiction profile allows it and the camera's signage is attested, whatever the camera row
says now (a row changed behind the library's back does not run).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from consentcam.config import PipelineSettings
from consentcam.consent.ledger import Ledger, camera_by_ref, camera_source
from consentcam.consent.profiles import FACE_MODES, profile
from consentcam.errors import ConfigError, PolicyError
from consentcam.store.models import Camera, Site


@dataclass(frozen=True, slots=True)
class CameraContext:
    """What a worker needs to know about its camera, read once from the store."""

    camera_id: str
    camera: str
    source: str
    mode: str
    site_id: str
    site: str
    tenant_id: str
    jurisdiction: str
    pipeline: PipelineSettings


def camera_context(ledger: Ledger, camera_ref: str, site_name: str | None = None) -> CameraContext:
    """Load a camera and refuse to run it unless its site's profile allows its mode and, for a
    face mode, its signage is attested (privacy invariant 7: no covert operation)."""
    with ledger.store.transaction() as s:
        camera = camera_by_ref(s, camera_ref, site_name, ledger.tenant_id(s))
        site = s.get(Site, camera.site_id)
        assert site is not None  # foreign key
        check_lawful(camera, site)
        return CameraContext(
            camera_id=camera.id,
            camera=camera.name,
            source=camera_source(ledger.keys, camera, site.tenant_id),
            mode=camera.mode,
            site_id=site.id,
            site=site.name,
            tenant_id=site.tenant_id,
            jurisdiction=site.jurisdiction,
            pipeline=camera_pipeline(ledger.settings.pipeline, camera.config),
        )


def check_lawful(camera: Camera, site: Site) -> None:
    rules = profile(site.jurisdiction)
    if camera.mode not in rules.allowed_modes:
        raise PolicyError(
            f"camera {camera.name!r}: mode {camera.mode!r} is not allowed under the "
            f"{site.jurisdiction} profile ({rules.name})"
        )
    if camera.mode in FACE_MODES and not camera.signage_attested:
        raise PolicyError(
            f"camera {camera.name!r}: mode {camera.mode!r} recognises faces and needs signage "
            "attestation; it will not start without it"
        )


def camera_pipeline(defaults: PipelineSettings, overrides: dict[str, Any]) -> PipelineSettings:
    """The pipeline settings with a camera's own overrides (its counting line, scale, ...)."""
    try:
        return PipelineSettings.model_validate({**defaults.model_dump(), **overrides})
    except ValueError as exc:
        raise ConfigError(f"invalid camera setting: {exc}") from None
