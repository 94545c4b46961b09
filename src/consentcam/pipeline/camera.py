"""A camera as its worker sees it: read once from the store, and refused unless it may run.

Privacy invariant 7, checked again at every start: a face mode runs only where the site's
jurisdiction profile allows it and the camera's signage is attested, whatever the camera row
says now (a row changed behind the library's back does not run).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from consentcam.config import PipelineSettings
from consentcam.consent.context import Ledger, camera_by_ref
from consentcam.consent.sites import camera_source, check_camera_lawful
from consentcam.errors import ConfigError
from consentcam.store.models import Site


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
        check_camera_lawful(
            site.jurisdiction, camera.mode, camera.signage_attested, camera=camera.name
        )
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


def camera_pipeline(defaults: PipelineSettings, overrides: dict[str, Any]) -> PipelineSettings:
    """The pipeline settings with a camera's own overrides (its counting line, scale, ...)."""
    try:
        return PipelineSettings.model_validate({**defaults.model_dump(), **overrides})
    except ValueError as exc:
        raise ConfigError(f"invalid camera setting: {exc}") from None
