"""The staff dashboard and the consent kiosk: static pages served by the API's own app.

The pages are plain HTML, CSS and JavaScript modules in ``static/`` (no framework, no CDN, no
third-party code), so they work offline and under the app's Content-Security-Policy, which
allows scripts from the app's own origin only: no inline script, style attribute or handler.
Every piece of data comes from the JSON API under /api/v1 with the browser's session cookie;
the pages themselves hold nothing secret and answer without credentials, and the API decides
what each role may see or do.

Pages: ``/dashboard`` (``/`` redirects there), ``/login``, ``/kiosk?site=NAME``,
``/kiosk/withdraw`` and ``/kiosk/notice?site=NAME`` (the signs' QR code opens it). Assets are
under ``/static/``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_PATH = "/static"
# Path -> HTML file in STATIC_DIR.
PAGES: dict[str, str] = {
    "/dashboard": "dashboard.html",
    "/login": "login.html",
    "/kiosk": "kiosk.html",
    "/kiosk/withdraw": "withdraw.html",
    "/kiosk/notice": "notice.html",
}
# Pages change with a release, not per user: a browser may keep them, but must ask again
# (a cheap 304) so an upgrade shows at once.
PAGE_HEADERS = {"Cache-Control": "no-cache"}


def mount_web(app: FastAPI) -> None:
    """Serve the dashboard and kiosk pages and their assets from ``app``. Calling it again on
    the same app does nothing, so ``create_app`` and tests may both call it."""
    if getattr(app.state, "web_mounted", False):
        return
    app.state.web_mounted = True

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/dashboard", status_code=307)

    for path, filename in PAGES.items():
        app.add_api_route(
            path,
            _page(STATIC_DIR / filename),
            methods=["GET"],
            include_in_schema=False,
            name=f"web:{filename.removesuffix('.html')}",
        )
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="web-static")


def _page(path: Path) -> Callable[[], FileResponse]:
    def page() -> FileResponse:
        return FileResponse(path, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)

    return page
