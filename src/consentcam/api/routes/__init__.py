"""The API's routers, one module per area, mounted under /api/v1 by ``create_app``."""

from __future__ import annotations

from fastapi import APIRouter

ROUTERS: list[APIRouter] = []
