"""What the data-subject rights and key rotation give back: typed, frozen records.

The CLI prints them (``as_dict``: times as ISO 8601 text) and the API derives its response
models from them (``api/schemas.py``), so each shape and each field's description is written
once, here. Nothing in them is biometric.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any, Literal

PictureKind = Literal["portrait", "snapshot"]


@dataclass(frozen=True, slots=True)
class About:
    """A field's description, in its annotation (the API documents every field it returns)."""

    text: str


def plain(value: Any) -> Any:
    """``value`` as JSON-ready data: records as dicts, tuples as lists, times as ISO 8601."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


class _Record:
    __slots__ = ()

    def as_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = plain(self)
        return document


@dataclass(frozen=True, slots=True)
class WithdrawalReceipt(_Record):
    receipt_id: Annotated[str, About("Receipt id to give the member.")]
    member_id: Annotated[str, About("The member.")]
    purposes: Annotated[tuple[str, ...], About("The purposes withdrawn.")]
    withdrawn_consents: Annotated[int, About("Consents withdrawn.")]
    deleted_templates: Annotated[int, About("Face templates deleted.")]
    deleted_pictures: Annotated[
        int, About("Pictures for staff deleted (reference portrait, door snapshots).")
    ]
    deleted_at: Annotated[dt.datetime, About("When (UTC).")]
    by: Annotated[str, About("Who withdrew, as the audit log names them.")]
    audit_entry: Annotated[int, About("Sequence number of the audit entry.")]
    kept: Annotated[str, About("What is kept, and how to erase it too.")]


@dataclass(frozen=True, slots=True)
class ErasureDeleted(_Record):
    templates: Annotated[int, About("Face templates.")]
    pictures: Annotated[int, About("Pictures for staff (reference portrait, door snapshots).")]
    webhook_deliveries: Annotated[int, About("Webhook deliveries of events naming the member.")]
    stream_entries: Annotated[int, About("Event stream entries of those events.")]
    events: Annotated[int, About("Events naming the member (alerts, verifications).")]
    claims: Annotated[int, About("Verify-mode claims.")]
    purchases: Annotated[int, About("Purchase records.")]
    consents: Annotated[int, About("Consent records (after their withdrawal).")]


@dataclass(frozen=True, slots=True)
class ErasureReceipt(_Record):
    receipt_id: Annotated[str, About("Receipt id to give the member.")]
    member_id: Annotated[str, About("The member that was erased.")]
    site: Annotated[str | None, About("The member's home site.")]
    withdrawn_consents: Annotated[int, About("Active consents withdrawn before deletion.")]
    deleted: Annotated[ErasureDeleted, About("Rows deleted, by kind.")]
    erased_at: Annotated[dt.datetime, About("When (UTC).")]
    by: Annotated[str, About("Who erased, as the audit log names them.")]
    audit_entry: Annotated[int, About("Sequence number of the audit entry.")]
    kept: Annotated[str, About("What is kept: the audit log's entries, by member id only.")]


@dataclass(frozen=True, slots=True)
class ExportedMember(_Record):
    id: Annotated[str, About("Member id.")]
    name: Annotated[str, About("Member's name.")]
    profile: Annotated[dict[str, Any], About("Membership fields.")]
    created_at: Annotated[dt.datetime, About("When added (UTC).")]
    last_interaction_at: Annotated[dt.datetime, About("Last enrolment or recognition (UTC).")]


@dataclass(frozen=True, slots=True)
class ExportedConsent(_Record):
    id: Annotated[str, About("Consent id.")]
    purpose: Annotated[str, About("What it is for.")]
    channel: Annotated[str, About("How it was given.")]
    scope: Annotated[Literal["site", "chain"], About("Home site only, or every site.")]
    notice_sha256: Annotated[str, About("SHA-256 of the notice shown.")]
    evidence_sha256: Annotated[str, About("SHA-256 of the evidence.")]
    given_at: Annotated[dt.datetime, About("When given (UTC).")]
    expires_at: Annotated[dt.datetime | None, About("When it ends.")]
    withdrawn_at: Annotated[dt.datetime | None, About("When withdrawn.")]


@dataclass(frozen=True, slots=True)
class ExportedTemplate(_Record):
    id: Annotated[str, About("Template id (the template itself is never exported).")]
    model_id: Annotated[str, About("Face model it was made with.")]
    created_at: Annotated[dt.datetime, About("When enrolled (UTC).")]
    quality: Annotated[dict[str, Any], About("Quality of the enrolment photo.")]
    source_photo_sha256: Annotated[str, About("SHA-256 of the enrolment photo (not kept).")]


@dataclass(frozen=True, slots=True)
class ExportedPurchase(_Record):
    at: Annotated[dt.datetime, About("When (UTC).")]
    items: Annotated[dict[str, Any], About("Items bought.")]
    amount_cents: Annotated[int, About("Amount, in cents.")]
    currency: Annotated[str, About("ISO 4217 currency.")]


@dataclass(frozen=True, slots=True)
class ExportedPicture(_Record):
    kind: Annotated[
        PictureKind, About("The reference portrait, or a door snapshot of a confirmed visit.")
    ]
    event_id: Annotated[str | None, About("The alert a snapshot was taken for.")]
    created_at: Annotated[dt.datetime, About("When taken (UTC).")]
    jpeg_base64: Annotated[str, About("The picture (JPEG, base64).")]


@dataclass(frozen=True, slots=True)
class MemberExport(_Record):
    member: Annotated[ExportedMember, About("The member record.")]
    consents: Annotated[
        tuple[ExportedConsent, ...], About("Every consent, withdrawn ones included.")
    ]
    templates: Annotated[tuple[ExportedTemplate, ...], About("Template metadata.")]
    purchases: Annotated[tuple[ExportedPurchase, ...], About("Purchase history.")]
    pictures: Annotated[
        tuple[ExportedPicture, ...],
        About("Pictures staff may be shown (with the member's consent to them)."),
    ]


@dataclass(frozen=True, slots=True)
class RotationReceipt(_Record):
    templates_rewrapped: Annotated[int, About("Templates moved to the new key and transform.")]
    templates_bound_to_member: Annotated[
        int, About("Templates sealed before seals named their member, bound to it on the way.")
    ]
    webhook_secrets_resealed: Annotated[int, About("Webhook signing secrets sealed anew.")]
    camera_sources_sealed: Annotated[
        int, About("Camera stream URLs sealed anew (or for the first time).")
    ]
    pictures_resealed: Annotated[int, About("Pictures for staff sealed anew.")]
    old_key_id: Annotated[str, About("The key that opens nothing any more.")]
    new_key_id: Annotated[str, About("The key now in use.")]
    at: Annotated[dt.datetime, About("When (UTC).")]
