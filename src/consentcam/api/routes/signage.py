"""Signage and compliance documents over HTTP: a site's printable sign (HTML or PDF), and the
record of processing activities and DPIA draft (JSON, Markdown or HTML), confined to the caller's
tenant and sites."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from consentcam.api.queries import scoped_site
from consentcam.api.schemas import ERROR_RESPONSES
from consentcam.api.security import principal_ledger, require
from consentcam.auth.roles import Principal
from consentcam.consent.context import Ledger
from consentcam.signage import (
    SignOptions,
    dpia,
    records_of_processing,
    render,
    sign_html,
    sign_pdf,
    sign_site,
)

router = APIRouter(tags=["compliance"], responses=ERROR_RESPONSES)

Text = Annotated[str | None, Query(max_length=200)]
# The compliance documents in the three formats ``format`` chooses from.
DOCUMENT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The document: JSON (format=json), Markdown (md) or self-contained HTML "
        "(html); Markdown and HTML are sent as downloads.",
        "content": {
            "application/json": {"schema": {"type": "object", "additionalProperties": True}},
            "text/markdown": {"schema": {"type": "string"}},
            "text/html": {"schema": {"type": "string"}},
        },
    }
}


@router.get(
    "/sites/{site}/signage",
    response_class=Response,
    responses={
        200: {
            "description": "The sign: self-contained HTML (a download) or a one-page PDF.",
            "content": {
                "text/html": {"schema": {"type": "string"}},
                "application/pdf": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
)
def get_signage(
    request: Request,
    site: str,
    principal: Annotated[Principal, Depends(require("sites:read"))],
    format: Literal["html", "pdf"] = "html",
    controller: Text = None,
    contact: Text = None,
    base_url: Annotated[
        str | None, Query(max_length=500, description="Default: this server's address.")
    ] = None,
    notice_url: Annotated[str | None, Query(max_length=500)] = None,
    paper: Literal["a4", "letter"] | None = None,
) -> Response:
    """The site's printable sign under its jurisdiction profile; the QR code opens the kiosk's
    notice page on this server unless ``notice_url`` or ``base_url`` says otherwise."""
    ledger = principal_ledger(request, principal)
    _check(ledger, principal, site)
    sign, rules = sign_site(ledger, site)
    options = SignOptions(controller, contact, base_url or str(request.base_url), notice_url, paper)
    if format == "pdf":
        return Response(
            sign_pdf(sign, rules, options),
            media_type="application/pdf",
            headers=_disposition("inline", f"signage-{_safe(site)}.pdf"),
        )
    return HTMLResponse(
        sign_html(sign, rules, options),
        headers=_disposition("attachment", f"signage-{_safe(site)}.html"),
    )


@router.get("/compliance/ropa", response_model=None, responses=DOCUMENT_RESPONSES)
def get_ropa(
    request: Request,
    principal: Annotated[Principal, Depends(require("compliance:read"))],
    site: str | None = None,
    format: Literal["json", "md", "html"] = "json",
    controller: Text = None,
    contact: Text = None,
) -> Response | dict[str, Any]:
    """The record of processing activities (GDPR art. 30, PIPL art. 55-56) for the caller's
    sites, or one site."""
    return _document(request, principal, "ropa", site, format, controller, contact)


@router.get("/compliance/dpia", response_model=None, responses=DOCUMENT_RESPONSES)
def get_dpia(
    request: Request,
    principal: Annotated[Principal, Depends(require("compliance:read"))],
    site: str | None = None,
    format: Literal["json", "md", "html"] = "json",
    controller: Text = None,
    contact: Text = None,
) -> Response | dict[str, Any]:
    """A DPIA draft (GDPR art. 35 structure) for the privacy officer to complete."""
    return _document(request, principal, "dpia", site, format, controller, contact)


def _document(
    request: Request,
    principal: Principal,
    kind: Literal["ropa", "dpia"],
    site: str | None,
    fmt: str,
    controller: str | None,
    contact: str | None,
) -> Response | dict[str, Any]:
    build = records_of_processing if kind == "ropa" else dpia
    ledger = principal_ledger(request, principal)
    if site is not None:
        _check(ledger, principal, site)
    # A site-scoped caller's documents cover only their sites.
    document = build(ledger, site, controller, contact, site_ids=principal.site_ids)
    if fmt == "json":
        return document
    name = f"{kind}-{_safe(site or 'all')}"
    if fmt == "md":
        return PlainTextResponse(
            render(document, "md"),
            media_type="text/markdown",
            headers=_disposition("attachment", f"{name}.md"),
        )
    return HTMLResponse(
        render(document, "html"), headers=_disposition("attachment", f"{name}.html")
    )


def _disposition(kind: str, filename: str) -> dict[str, str]:
    """HTML is sent as a download: the app's Content-Security-Policy forbids inline styles on
    its own pages, and these self-contained pages carry their print CSS inline; opened from the
    saved file they print as designed."""
    return {"Content-Disposition": f'{kind}; filename="{filename}"'}


def _safe(name: str) -> str:
    """``name`` reduced to characters safe in a Content-Disposition filename."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "site"


def _check(ledger: Ledger, principal: Principal, site: str) -> None:
    """NotFound unless the site is the caller's tenant's and within their scope, worded as for
    a site that does not exist (``scoped_site``): never the site's id."""
    with ledger.store.transaction() as s:
        scoped_site(s, principal, site)
