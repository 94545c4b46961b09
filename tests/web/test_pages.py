"""The pages as served (no browser needed): routes, security headers, and the rules the
Content-Security-Policy and the no-innerHTML rule depend on, checked in the files themselves."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI

from consentcam.api.app import create_app
from consentcam.config import Settings
from consentcam.consent.context import Ledger
from consentcam.web import PAGES, STATIC_DIR, mount_web
from tests.support.clients import TestClient

HTML_FILES = sorted(STATIC_DIR.glob("*.html"))
JS_FILES = sorted(STATIC_DIR.glob("js/*.js"))


@pytest.fixture
def app(store_settings: Settings, ledger: Ledger) -> FastAPI:
    app = create_app(store_settings)
    mount_web(app)
    mount_web(app)  # a second call (create_app may call it too) changes nothing
    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


@pytest.mark.parametrize("path", sorted(PAGES))
def test_pages_are_served_with_the_security_headers(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert '<html lang="en">' in response.text


def test_root_redirects_to_the_dashboard(client: TestClient) -> None:
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == "/dashboard"


def test_assets_are_served_and_unknown_ones_are_404(client: TestClient) -> None:
    for path in ("/static/css/app.css", "/static/js/dashboard.js", "/static/favicon.svg"):
        assert client.get(path).status_code == 200, path
    assert (
        client.get("/static/js/dashboard.js").headers["content-type"].startswith("text/javascript")
    )
    assert client.get("/static/nope.js").status_code == 404
    assert client.get("/static/../__init__.py").status_code == 404


def test_pages_stay_out_of_the_openapi_schema(app: FastAPI) -> None:
    paths = app.openapi()["paths"]
    assert not [p for p in paths if not p.startswith("/api/") and p != "/healthz"]


def test_every_referenced_asset_exists() -> None:
    for html in HTML_FILES:
        for ref in re.findall(r'(?:src|href)="(/static/[^"]+)"', html.read_text()):
            assert (STATIC_DIR / ref.removeprefix("/static/")).is_file(), (html.name, ref)
    for js in JS_FILES:
        for module in re.findall(r'from "\./([^"]+)"', js.read_text()):
            assert (js.parent / module).is_file(), (js.name, module)


@pytest.mark.parametrize("html", HTML_FILES, ids=lambda p: p.name)
def test_html_has_no_inline_script_style_or_handler(html: object) -> None:
    text = html.read_text()  # type: ignore[attr-defined]
    for tag in re.findall(r"<script\b[^>]*>", text):
        assert re.search(r'\bsrc="/static/', tag), tag
    assert not re.search(r"<script\b[^>]*>\s*[^<\s]", text), "inline script"
    assert not re.search(r"\son[a-z]+\s*=", text), "inline event handler"
    assert not re.search(r"\sstyle\s*=", text), "style attribute"
    assert "<style" not in text
    assert not re.search(r'(?:src|href)="(?:https?:)?//', text), "external resource"
    assert "javascript:" not in text


@pytest.mark.parametrize("js", JS_FILES, ids=lambda p: p.name)
def test_scripts_never_write_markup(js: object) -> None:
    text = js.read_text()  # type: ignore[attr-defined]
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in text, sink
    assert "new Function" not in text
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg|shop\.example)", text)
