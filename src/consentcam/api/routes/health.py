"""``GET /healthz``: liveness and store reachability, public and outside /api/v1."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import text

from consentcam import __version__

router = APIRouter()


@router.get("/healthz")
def healthz(request: Request) -> dict[str, str]:
    """Liveness and store reachability."""
    with request.app.state.store.transaction() as s:
        s.execute(text("SELECT 1"))
    return {"status": "ok", "version": __version__}
