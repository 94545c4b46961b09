"""Recording a member's consent: the evidence's hash and the exact notice's hash are stored,
never the evidence itself."""

from __future__ import annotations

import base64
import binascii
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from consentcam.api.queries import scoped_member
from consentcam.api.schemas import ERROR_RESPONSES, ConsentIn, ConsentOut, checked_time
from consentcam.api.security import principal_ledger, require
from consentcam.auth.roles import Principal
from consentcam.consent.consents import record_consent
from consentcam.errors import InputError

router = APIRouter(tags=["consents"], responses=ERROR_RESPONSES)
MAX_EVIDENCE_BYTES = 10 * 1024 * 1024


@router.post("/members/{member_id}/consents", status_code=201)
def post_consent(
    member_id: str,
    body: ConsentIn,
    request: Request,
    principal: Annotated[Principal, Depends(require("consent:write"))],
) -> ConsentOut:
    """Record a consent for the member, with its evidence (text or a base64 file) and the notice
    version shown; the profile decides what else is needed (written release, guardian)."""
    ledger = principal_ledger(request, principal)
    with ledger.store.transaction() as s:
        scoped_member(s, principal, member_id)
    expires = checked_time(body.expires, "expires") if body.expires is not None else None
    evidence = evidence_bytes(body)
    # record_consent hashes a file (the CLI's evidence); the bytes live in a private temporary
    # folder only for that call.
    with tempfile.TemporaryDirectory(prefix="consentcam-evidence-") as folder:
        path = Path(folder) / "evidence"
        path.write_bytes(evidence)
        consent = record_consent(
            ledger,
            member_id,
            purpose=body.purpose,
            evidence=path,
            notice_version=body.notice_version,
            expires=expires,
            channel=body.channel,
            chain_scope=body.chain_scope,
            guardian_name=body.guardian_name,
            age=body.age,
        )
    return ConsentOut(
        id=consent.id,
        member_id=consent.member_id,
        purpose=consent.purpose,
        channel=consent.channel,
        scope="chain" if consent.site_id is None else "site",
        notice_sha256=consent.notice_sha256,
        evidence_sha256=consent.evidence_sha256,
        given_at=consent.given_at,
        expires_at=consent.expires_at,
        guardian_name=consent.guardian_name,
    )


def evidence_bytes(body: ConsentIn) -> bytes:
    if body.evidence_text is not None:
        data = body.evidence_text.encode()
    else:
        try:
            data = base64.b64decode(body.evidence or "", validate=True)
        except (binascii.Error, ValueError):
            raise InputError("evidence must be base64") from None
    if not data.strip():
        raise InputError("the consent evidence is empty")
    if len(data) > MAX_EVIDENCE_BYTES:
        raise InputError(f"the consent evidence is over {MAX_EVIDENCE_BYTES} bytes")
    return data
