from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from consentcam.api.app import create_app
from consentcam.api.security import current_principal
from consentcam.auth.roles import ROLES, Principal
from consentcam.config import Settings
from consentcam.consent.context import DEFAULT_TENANT, Ledger, tenant_row
from consentcam.consent.sites import add_site
from tests.support.clients import TestClient
from tests.support.seed import build_chain

API = "/api/v1"


@dataclasses.dataclass
class Api:
    app: FastAPI
    client: TestClient
    ledger: Ledger
    ids: dict[str, str]  # tenant and site ids by name

    def caller(
        self, role: str, tenant: str = DEFAULT_TENANT, sites: tuple[str, ...] = ()
    ) -> Principal:
        return Principal(
            user_id=f"u-{role}",
            user=role,
            tenant=tenant,
            tenant_id=self.ids[tenant],
            role=role,
            site_ids=frozenset(self.ids[s] for s in sites) if sites else None,
            via="token",
        )

    def get(self, principal: Principal, path: str, **params: Any) -> httpx.Response:
        self.app.dependency_overrides[current_principal] = lambda: principal
        try:
            response: httpx.Response = self.client.get(API + path, params=params)
            return response
        finally:
            self.app.dependency_overrides.pop(current_principal, None)


@pytest.fixture
def api(
    ledger: Ledger,
    store_settings: Settings,
    photos: Path,
    evidence: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Api]:
    """The chain of tests/signage (tenant ``default``) and tenant ``globex`` with site ``west``."""
    build_chain(ledger, photos, evidence, tmp_path, monkeypatch)
    west = add_site(dataclasses.replace(ledger, tenant="globex"), "west", "eu")
    with ledger.store.transaction() as s:
        ids = {t: tenant_row(s, t).id for t in (DEFAULT_TENANT, "globex")}
        ids.update({name: ledger_site_id(ledger, s, name) for name in ("flagship", "shanghai")})
    ids["west"] = west.id
    app = create_app(store_settings)
    with TestClient(app) as client:
        yield Api(app, client, ledger, ids)


def ledger_site_id(ledger: Ledger, session: Any, name: str) -> str:
    from consentcam.consent.context import site_by_name

    return site_by_name(session, name, tenant_row(session, ledger.tenant).id).id


def test_signage_html_and_pdf(api: Api) -> None:
    staff = api.caller("staff")
    r = api.get(staff, "/sites/flagship/signage", controller="Acme Retail GmbH")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "Acme Retail GmbH" in r.text
    # A download: the app's CSP would block the page's inline print CSS.
    assert r.headers["content-disposition"] == 'attachment; filename="signage-flagship.html"'
    # The QR code opens the kiosk notice page on this server unless told otherwise.
    url = f"http://testserver/kiosk/notice?site=flagship&amp;site_id={api.ids['flagship']}"
    assert url in r.text
    r = api.get(staff, "/sites/shanghai/signage", format="pdf", base_url="https://shop.example")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF-")
    assert 'filename="signage-shanghai.pdf"' in r.headers["content-disposition"]


def test_signage_is_confined_to_the_callers_tenant_and_sites(api: Api) -> None:
    r = api.get(api.caller("owner", "globex"), "/sites/flagship/signage")
    assert r.status_code == 404 and set(r.json()) == {"error"}
    r = api.get(api.caller("staff", sites=("shanghai",)), "/sites/flagship/signage")
    assert r.status_code == 404 and set(r.json()) == {"error"}
    assert api.get(api.caller("staff", sites=("shanghai",)), "/sites/shanghai/signage").is_success
    assert api.get(api.caller("owner", "globex"), "/sites/west/signage").is_success


def test_signage_bad_input_is_a_4xx_with_a_json_body(api: Api) -> None:
    admin = api.caller("admin")
    for params in ({"format": "docx"}, {"base_url": "ftp://shop.example"}, {"paper": "a3"}):
        r = api.get(admin, "/sites/flagship/signage", **params)
        assert 400 <= r.status_code < 500 and isinstance(r.json(), dict), params


def test_compliance_documents_need_compliance_read(api: Api) -> None:
    for document in ("ropa", "dpia"):
        for role in ROLES:
            r = api.get(api.caller(role), f"/compliance/{document}")
            allowed = role in ("owner", "admin", "auditor")
            assert r.status_code == (200 if allowed else 403), (document, role, r.text)


def test_compliance_documents_in_each_format(api: Api) -> None:
    auditor = api.caller("auditor")
    doc = api.get(auditor, "/compliance/ropa", controller="Acme").json()
    assert doc["controller"]["name"] == "Acme"
    assert [s["name"] for s in doc["sites"]] == ["flagship", "portland", "shanghai"]
    assert doc["sites"][0]["enrolled_members"] == 1
    md = api.get(auditor, "/compliance/dpia", format="md")
    assert md.headers["content-type"].startswith("text/markdown")
    assert md.text.startswith("# Data protection impact assessment (DRAFT)")
    html = api.get(auditor, "/compliance/ropa", format="html", site="shanghai")
    assert html.headers["content-type"].startswith("text/html")
    assert "<td>shanghai</td>" in html.text and "<td>flagship</td>" not in html.text
    assert html.headers["content-disposition"] == 'attachment; filename="ropa-shanghai.html"'
    assert api.get(auditor, "/compliance/ropa", format="pdf").status_code == 422


def test_compliance_documents_are_scoped(api: Api) -> None:
    # Another tenant sees only its own sites, and not ours by name.
    globex = api.caller("owner", "globex")
    assert [s["name"] for s in api.get(globex, "/compliance/ropa").json()["sites"]] == ["west"]
    assert api.get(globex, "/compliance/dpia", site="flagship").status_code == 404
    # A caller confined to some sites gets documents about those sites only.
    confined = api.caller("admin", sites=("shanghai",))
    doc = api.get(confined, "/compliance/dpia").json()
    assert [s["name"] for s in doc["sites"]] == ["shanghai"]
    assert api.get(confined, "/compliance/ropa", site="flagship").status_code == 404


def test_the_document_lists_each_formats_content_type_and_the_errors(api: Api) -> None:
    """What the fuzzing found: Markdown and HTML answers, and 400/404 errors, undocumented."""
    paths = api.app.openapi()["paths"]
    for document in ("ropa", "dpia"):
        answers = paths[f"{API}/compliance/{document}"]["get"]["responses"]
        assert set(answers["200"]["content"]) == {"application/json", "text/markdown", "text/html"}
        assert {"400", "401", "403", "404", "422"} <= set(answers)
    signage = paths[f"{API}/sites/{{site}}/signage"]["get"]["responses"]
    assert set(signage["200"]["content"]) == {"text/html", "application/pdf"}
    assert {"400", "401", "403", "404", "422"} <= set(signage)
    admin = api.caller("admin")
    bad_url = api.get(admin, "/sites/flagship/signage", base_url="ftp://shop.example")
    assert bad_url.status_code == 400 and set(bad_url.json()) == {"error"}
    assert api.get(admin, "/compliance/ropa", site="atlantis").status_code == 404
