"""Purchase history import from the point of sale (CSV: member_id,time,items,amount,currency).

All or nothing, as the library imports it; and every row's member must be the caller's, or the
whole file is refused before anything is stored.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from consentcam.api.queries import check_purchase_members
from consentcam.api.schemas import ERROR_RESPONSES, PurchaseImportOut
from consentcam.api.security import principal_ledger, require
from consentcam.auth.roles import Principal
from consentcam.consent.purchases import import_purchases
from consentcam.errors import InputError

router = APIRouter(tags=["purchases"], responses=ERROR_RESPONSES)
MAX_CSV_BYTES = 20 * 1024 * 1024
_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            },
        },
    }
}


@router.post("/purchases", status_code=201, openapi_extra=_BODY)
async def post_purchases(
    request: Request, principal: Annotated[Principal, Depends(require("purchases:write"))]
) -> PurchaseImportOut:
    """Import a POS export, as the body (``text/csv``) or as the form field ``file``."""
    data = await _csv_bytes(request)
    result = await run_in_threadpool(_import, request, principal, data)
    return PurchaseImportOut(**result)


async def _csv_bytes(request: Request) -> bytes:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "text/csv":
        data = await request.body()
    elif kind == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=0)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InputError("send the CSV as the multipart form field 'file'")
        data = await upload.read(MAX_CSV_BYTES + 1)
    else:
        raise InputError("send the purchases as text/csv or as multipart/form-data field 'file'")
    if len(data) > MAX_CSV_BYTES:
        raise InputError(f"the purchases file is over {MAX_CSV_BYTES} bytes")
    return data


def _import(request: Request, principal: Principal, data: bytes) -> dict[str, Any]:
    ledger = principal_ledger(request, principal)
    with ledger.store.transaction() as s:
        check_purchase_members(s, principal, data)
    with tempfile.TemporaryDirectory(prefix="consentcam-purchases-") as folder:
        path = Path(folder) / "purchases.csv"
        path.write_bytes(data)
        return import_purchases(ledger, path)
