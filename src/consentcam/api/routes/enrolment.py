"""Enrolment from photos taken through the consent flow (kiosk upload or webcam capture).

All photos must pass the quality gate, or nothing is stored; a refusal says what to fix for each
photo in words the member can act on. Uploads live in a private temporary folder only while they
are decoded: the photo is never kept, only its hash.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile

from consentcam.api.queries import renamed_paths, scoped_member
from consentcam.api.schemas import ERROR_RESPONSES, TOO_MANY_REQUESTS, EnrolmentOut, QualityOut
from consentcam.api.security import principal_ledger, rate_limited, require
from consentcam.auth.roles import Principal
from consentcam.consent.enrolment import BURST_MIN_VIEWS, enroll, enroll_burst
from consentcam.errors import ConsentcamError, InputError

router = APIRouter(tags=["enrolment"], responses=ERROR_RESPONSES)
MAX_PHOTOS = 5
# A kiosk enrols a few people a minute; more from one kiosk is a script, and every call
# decodes and embeds up to MAX_PHOTOS images. Counted per caller (rate_limited): anonymous
# requests are refused before the body (api.guard) and never spend a kiosk's budget.
# The whole body is bounded too, by api.guard: MAX_PHOTOS x vision.decode.max_bytes.
ENROL_PER_MINUTE = 10
_CHUNK = 1024 * 1024


@router.post(
    "/members/{member_id}/enrol",
    status_code=201,
    responses=TOO_MANY_REQUESTS,
    dependencies=[Depends(rate_limited("enrol", per_minute=ENROL_PER_MINUTE))],
)
def post_enrolment(
    member_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(require("enrol"))],
    photos: Annotated[
        list[UploadFile], File(description=f"1-{MAX_PHOTOS} photos (JPEG, PNG or WebP).")
    ],
    burst: Annotated[
        bool,
        Query(
            description=f"The photos are {BURST_MIN_VIEWS}-{MAX_PHOTOS} frames of one kiosk "
            "capture: frames the quality gate refuses are skipped (listed in `skipped`), at "
            f"least {BURST_MIN_VIEWS} must pass and show one person."
        ),
    ] = False,
    portrait: Annotated[
        bool,
        Query(
            description="Also store the first photo's face as the reference portrait staff are "
            "shown to check an alert; needs the member's consent for purpose 'portrait' (403 "
            "without; nothing is stored then)."
        ),
    ] = False,
) -> EnrolmentOut:
    """Enrol the member from 1-5 photos, all of which must pass the quality gate, or from a
    kiosk burst (``burst=true``); needs an active recognition consent (403 without)."""
    ledger = principal_ledger(request, principal)
    if not 1 <= len(photos) <= MAX_PHOTOS:
        raise InputError(f"send 1 to {MAX_PHOTOS} photos, not {len(photos)}")
    with ledger.store.transaction() as s:
        scoped_member(s, principal, member_id)
    max_bytes = ledger.settings.vision.decode.max_bytes
    with tempfile.TemporaryDirectory(prefix="consentcam-enrol-") as folder:
        paths, names = [], {}
        for i, upload in enumerate(photos, 1):
            path = Path(folder) / f"photo-{i}"
            names[str(path)] = _label(i, upload)
            _save(upload, path, max_bytes, names[str(path)])
            paths.append(path)
        try:
            if burst:
                labels = [names[str(p)] for p in paths]
                result = enroll_burst(ledger, member_id, paths, labels, portrait=portrait)
            else:
                result = enroll(ledger, member_id, paths, portrait=portrait)
        except ConsentcamError as exc:
            raise renamed_paths(exc, names) from None
    return EnrolmentOut(
        member_id=result.member_id,
        templates=result.templates,
        quality=[QualityOut(**q) for q in result.quality],
        skipped=list(result.skipped),
        portrait=result.portrait,
    )


def _label(index: int, upload: UploadFile) -> str:
    """How a message names an upload: its position, and its file name when it is printable."""
    name = upload.filename or ""
    if name and len(name) <= 100 and name.isprintable():
        return f"photo {index} ({name})"
    return f"photo {index}"


def _save(upload: UploadFile, path: Path, max_bytes: int, label: str) -> None:
    """Copy an upload to ``path``, refusing it once it passes ``max_bytes``."""
    size = 0
    with path.open("wb") as out:
        while chunk := upload.file.read(_CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise InputError(f"{label}: over the {max_bytes}-byte limit")
            out.write(chunk)
