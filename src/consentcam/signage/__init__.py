"""Printable signage per site and jurisdiction profile (HTML and PDF, with a QR code to the full
notice) and compliance documents filled from the configuration (record of processing activities,
DPIA draft). See docs/signage.md.

Nothing heavy loads at import: fpdf2 loads with ``sign_pdf``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from consentcam.signage.compliance import dpia, records_of_processing
from consentcam.signage.content import SignOptions, SignSite, sign_content
from consentcam.signage.documents import render
from consentcam.signage.facts import sign_site, store_facts
from consentcam.signage.html import sign_html
from consentcam.signage.qr import notice_url

if TYPE_CHECKING:
    from consentcam.consent.profiles import Profile


def sign_pdf(site: SignSite, profile: Profile, options: SignOptions) -> bytes:
    """The printable sign as a one-page PDF (see ``consentcam.signage.pdf``)."""
    from consentcam.signage.pdf import sign_pdf as make

    return make(site, profile, options)


__all__ = [
    "SignOptions",
    "SignSite",
    "dpia",
    "notice_url",
    "records_of_processing",
    "render",
    "sign_content",
    "sign_html",
    "sign_pdf",
    "sign_site",
    "store_facts",
]
