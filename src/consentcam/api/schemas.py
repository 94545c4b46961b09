"""Request and response models of the REST API (pydantic lives only at this edge).

Requests forbid unknown keys, so a typo is a 422 rather than a silently ignored field; responses
forbid them too, so a route cannot leak a field its model does not declare. Every field says
what it is, so the OpenAPI document is the API's reference.

Input is read strictly where lax parsing would guess: booleans are JSON ``true``/``false`` only
(``0`` or ``"no"`` must not dismiss a door event), numbers in bodies are JSON numbers, and a
date-time is an ISO 8601 string with its UTC offset (never a Unix time, never a naive time read
as some zone). Every integer has bounds the store can hold; date-times outside the years
``EARLIEST``-``LATEST`` are refused by ``checked_time`` (400).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import typing
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    create_model,
    model_validator,
)

from consentcam.consent.members import (
    MAX_PROFILE_BYTES,
    MAX_PROFILE_FIELDS,
    MAX_PROFILE_KEY_CHARS,
    MAX_PROFILE_VALUE_CHARS,
)
from consentcam.consent.receipts import (
    About,
    ErasureDeleted,
    ErasureReceipt,
    ExportedConsent,
    ExportedMember,
    ExportedPicture,
    ExportedPurchase,
    ExportedTemplate,
    MemberExport,
    WithdrawalReceipt,
)
from consentcam.errors import InputError

ConsentState = Literal["active", "expired", "withdrawn", "none"]
# The codes of consent.profiles.PROFILES, spelled out so the document lists them (a test keeps
# the two equal).
Jurisdiction = Literal["eu", "cn", "us-il", "us-tx", "us-nyc", "us-portland", "none"]

# Exclusive upper bounds (``lt``) of integer parameters: sequence numbers are INTEGER columns,
# 32-bit in PostgreSQL (64 in SQLite), so no seq reaches 2**31; no site has a billion members.
SEQ_END = 2**31
OFFSET_END = 10**9
# Times a shop's records can concern; outside them a time is a typo (and near the ends of
# Python's calendar, arithmetic and time-zone conversion overflow).
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)
_ISO_8601 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})", re.ASCII
)


def _iso_8601_only(value: object) -> object:
    """Pydantic's lax mode reads a number, or a string of digits, as a Unix time; here a
    date-time must be written out, with its offset."""
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and _ISO_8601.fullmatch(value):
        return value
    raise ValueError(
        "expected an ISO 8601 date-time with a UTC offset, such as 2025-06-01T09:00:00+02:00"
    )


IsoDateTime = Annotated[AwareDatetime, BeforeValidator(_iso_8601_only)]


def checked_time(at: dt.datetime, name: str) -> dt.datetime:
    """``at`` in UTC; InputError (400) unless it lies in [``EARLIEST``, ``LATEST``)."""
    # Comparing aware times never overflows; converting one near year 1 or 9999 can.
    if not EARLIEST <= at < LATEST:
        raise InputError(
            f"{name} must lie between {EARLIEST.year} and {LATEST.year - 1}, got {at.isoformat()}"
        )
    return at.astimezone(dt.UTC)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# Tenant and sites


class TenantOut(_Model):
    name: str = Field(description="The caller's tenant (company).")
    sites: int = Field(description="Sites of the tenant the caller may see.")


class SiteIn(_Model):
    name: str = Field(min_length=1, max_length=200, description="Site name, unique per tenant.")
    jurisdiction: Jurisdiction = Field(description="Jurisdiction profile code.")


class SiteOut(_Model):
    id: str = Field(description="Site id.")
    name: str = Field(description="Site name.")
    jurisdiction: str = Field(description="Jurisdiction profile code.")
    created_at: dt.datetime = Field(description="When the site was added (UTC).")


class ProfileOut(_Model):
    code: str = Field(description="Profile code.")
    name: str = Field(description="The legal regime, in words.")
    allowed_modes: list[str] = Field(description="Camera modes the profile allows.")
    separate_biometric_consent: bool = Field(
        description="Biometric consent must be its own act, not part of the terms."
    )
    written_release: bool = Field(description="Consent needs a signed written release (BIPA).")
    guardian_under: int | None = Field(description="Age below which a guardian must consent.")
    template_inactivity_days: int | None = Field(
        description="Templates are destroyed this many days after the last interaction."
    )
    event_retention_days: int = Field(description="Days events are kept.")
    footfall_retention_days: int = Field(description="Days anonymous footfall counts are kept.")
    filing_thresholds: list[int] = Field(
        description="Enrolled-people counts that trigger a regulator filing (warn, file)."
    )
    signage: str = Field(description="The sign's core sentence.")
    source: str = Field(description="Articles the rules come from.")


class FilingOut(_Model):
    enrolled_people: int = Field(description="People with a template anywhere in the tenant.")
    warn_at: int = Field(description="Count at which the filing deadline approaches.")
    file_at: int = Field(description="Count at which filing is required.")
    status: Literal["ok", "warn", "file"] = Field(description="Where the count stands.")
    note: str = Field(description="What to file, and when.")


class CameraIn(_Model):
    name: str = Field(min_length=1, max_length=200, description="Camera name, unique per site.")
    source: str = Field(
        min_length=1,
        max_length=2000,
        description="Video source: an rtsp://, rtsps://, http:// or https:// (MJPEG) stream on "
        "the operator's camera networks, or a webcam (/dev/videoN); a local file or folder only "
        "where the operator allows it (CONSENTCAM_SOURCE__API_LOCAL_FILES).",
    )
    mode: str = Field(description="count, verify, lane or door.")
    signage_attested: StrictBool = Field(
        False, description="The signs are up; required for every face mode (verify, lane, door)."
    )
    line: tuple[StrictFloat, StrictFloat, StrictFloat, StrictFloat] | None = Field(
        None, description="Counting line x1,y1,x2,y2 in fractions of the frame (0-1)."
    )
    detect_scale: StrictFloat | None = Field(
        None, description="Scale applied to frames before detection (0-4]; site default if unset."
    )


class CameraPatch(_Model):
    """Only the fields sent change; ``line`` or ``detect_scale`` sent as null go back to the
    site's default."""

    source: str | None = Field(
        None,
        min_length=1,
        max_length=2000,
        description="New video source, under the same rules as when a camera is added.",
    )
    mode: str | None = Field(None, description="count, verify, lane or door.")
    signage_attested: StrictBool | None = Field(
        None, description="The signs are up; a face mode cannot run without it."
    )
    line: tuple[StrictFloat, StrictFloat, StrictFloat, StrictFloat] | None = Field(
        None, description="Counting line x1,y1,x2,y2 in fractions of the frame (0-1); null: none."
    )
    detect_scale: StrictFloat | None = Field(
        None, description="Scale applied to frames before detection (0-4]; null: site default."
    )


class CameraHealthOut(_Model):
    state: Literal["online", "offline", "never seen"] = Field(
        description="online: its worker reported and saw a frame within the staleness limit."
    )
    reason: str = Field(description="The state in words.")
    fps: float | None = Field(description="Frames processed per second, last interval.")
    frames: int | None = Field(description="Frames processed since its worker started.")
    dropped: int | None = Field(description="Frames dropped (read but never processed).")
    reconnects: int | None = Field(description="Reconnections to the stream.")
    restarts: int | None = Field(description="Worker restarts by the supervisor.")
    last_frame_at: dt.datetime | None = Field(description="When its last frame was processed.")
    last_error: str | None = Field(description="Its latest error in words (addresses redacted).")
    error_at: dt.datetime | None = Field(description="When the latest error was recorded.")
    heartbeat_at: dt.datetime | None = Field(description="Its worker's latest heartbeat.")
    stale_after_s: float = Field(description="The staleness limit in force, in s.")


class CameraRemovedOut(_Model):
    site: str = Field(description="Site name.")
    camera: str = Field(description="The camera removed.")
    mode: str = Field(description="Its mode.")
    footfall_hours: int = Field(description="Hourly footfall rows removed with it.")
    events_kept: int = Field(description="Its events, kept in the site's history without it.")


class CameraOut(_Model):
    id: str = Field(description="Camera id.")
    name: str = Field(description="Camera name.")
    mode: str = Field(description="count, verify, lane or door.")
    signage_attested: bool = Field(description="Whether the signs were attested to be up.")
    source: str = Field(
        description="Video source: a stream URL as scheme://host[:port]/… only (the whole URL "
        "is stored sealed), a webcam or a local path as given."
    )
    line: list[float] | None = Field(description="The camera's own counting line, if set.")
    detect_scale: float | None = Field(description="The camera's own detection scale, if set.")
    created_at: dt.datetime = Field(description="When the camera was added (UTC).")
    health: CameraHealthOut | None = Field(
        None, description="Its worker's health from the store (in the cameras list)."
    )


class SiteDetail(_Model):
    site: SiteOut = Field(description="The site.")
    profile: ProfileOut = Field(description="Its jurisdiction profile's rules.")
    cameras: list[CameraOut] = Field(description="Its cameras, by name.")
    members: int = Field(description="Members whose home site this is.")
    enrolled_members: int = Field(description="Members of the site with a stored template.")
    filing: FilingOut | None = Field(
        description="Tenant-wide enrolled people against the profile's filing thresholds."
    )


class NoticeOut(_Model):
    site: str = Field(description="Site name.")
    jurisdiction: str = Field(description="The site's profile code.")
    version: str = Field(description="Notice version.")
    text: str = Field(description="The exact notice text to show before consent.")
    sha256: str = Field(description="SHA-256 of the text (UTF-8), recorded with each consent.")


class PointIn(_Model):
    x: StrictFloat = Field(description="Across the picture: 0 at its left edge, 1 at its right.")
    y: StrictFloat = Field(description="Down the picture: 0 at its top edge, 1 at its bottom.")


class LineIn(_Model):
    start: PointIn = Field(description="Where the counting line starts.")
    end: PointIn = Field(
        description="Where it ends. Crossing the line from its left to its right, looking from "
        "start to end on the displayed picture, is an entry; the other way an exit. The points "
        "must be at least 5% of the picture apart."
    )


# Members

# The library checks these bounds (400 past them, nothing stored); the document states them.
PROFILE_BOUNDS = (
    f"At most {MAX_PROFILE_FIELDS} fields, names of 1-{MAX_PROFILE_KEY_CHARS} characters, "
    f"values of at most {MAX_PROFILE_VALUE_CHARS} characters, {MAX_PROFILE_BYTES} bytes in all "
    "as JSON."
)


class MemberIn(_Model):
    site: str = Field(min_length=1, max_length=200, description="Home site name.")
    name: str = Field(min_length=1, max_length=200, description="Member's name.")
    profile: dict[str, str | int | float | bool | None] = Field(
        default_factory=dict,
        description="Free membership fields shown on the member card (tier, member number). "
        + PROFILE_BOUNDS,
    )


class MemberRectifyIn(_Model):
    name: str | None = Field(
        None, min_length=1, max_length=200, description="The corrected name (left out: kept)."
    )
    profile: dict[str, str | int | float | bool | None] | None = Field(
        None, description="The whole new profile (left out: kept). " + PROFILE_BOUNDS
    )


class MemberOut(_Model):
    id: str = Field(description="Member id (random; says nothing about the member).")
    site: str = Field(description="Home site name.")
    name: str = Field(description="Member's name.")
    created_at: dt.datetime = Field(description="When the member was added (UTC).")


class MemberRow(_Model):
    id: str = Field(description="Member id.")
    name: str = Field(description="Member's name.")
    consent: ConsentState = Field(
        description="Recognition consent: active, expired, withdrawn, or none recorded."
    )
    consent_expires_at: dt.datetime | None = Field(description="When the active consent ends.")
    templates: int = Field(description="Stored face templates.")
    created_at: dt.datetime = Field(description="When the member was added (UTC).")


class MemberPage(_Model):
    items: list[MemberRow] = Field(description="Members, oldest first.")
    total: int = Field(description="Members of the site in all.")
    limit: int = Field(description="Page size asked for.")
    offset: int = Field(description="Members skipped before this page.")


class TopItem(_Model):
    item: str = Field(description="Item name as the point of sale exports it.")
    count: int = Field(description="Times bought.")


class PurchaseSummaryOut(_Model):
    last_visits: list[str] = Field(description="Latest purchase dates (UTC), newest first.")
    top_items: list[TopItem] = Field(description="Most bought items.")
    spend_cents: dict[str, int] = Field(description="Total spend per currency, in cents.")
    purchases: int = Field(description="Number of purchases.")


class MemberCard(_Model):
    id: str = Field(description="Member id.")
    name: str = Field(description="Member's name.")
    site: str = Field(description="Home site name.")
    profile: dict[str, Any] = Field(description="Membership fields.")
    consent: ConsentState = Field(description="Recognition consent status.")
    consent_expires_at: dt.datetime | None = Field(description="When the active consent ends.")
    templates: int = Field(description="Stored face templates.")
    visit_templates: int = Field(
        description="Of those, templates from confirmed visits (where the notice allows them)."
    )
    portrait: str | None = Field(
        None,
        description="Link to the member's reference portrait for staff (JPEG; needs credentials, "
        "each view audited), where the member consented to one; null otherwise.",
    )
    created_at: dt.datetime = Field(description="When the member was added (UTC).")
    last_interaction_at: dt.datetime = Field(description="Last enrolment or recognition (UTC).")
    purchases: PurchaseSummaryOut = Field(description="Purchase-history summary.")
    refresh_photos: bool = Field(
        False,
        description="Ask the member to refresh their photos at the kiosk: their last 5 "
        "confirmed door visits matched at a median distance above 80% of the threshold.",
    )
    refresh_photos_reason: str | None = Field(
        None, description="Why, in words, when refresh_photos is true."
    )


# Consent, enrolment, rights


class ConsentIn(_Model):
    purpose: str = Field(
        description="What the consent is for: 'recognition' (the face template), or "
        "'portrait' (pictures staff are shown to check an alert; its own choice, notice v3)."
    )
    evidence_text: str | None = Field(
        None,
        max_length=100_000,
        description="The consent record as text (kiosk: the ticked box and typed name); only its "
        "SHA-256 is stored. Give this or evidence.",
    )
    evidence: str | None = Field(
        None,
        max_length=14_000_000,
        description="The evidence file (signed form, scan) as base64; only its SHA-256 is "
        "stored. Give this or evidence_text.",
    )
    notice_version: str = Field(
        "v1", pattern=r"^[A-Za-z0-9._-]{1,40}$", description="Version of the notice shown."
    )
    expires: IsoDateTime | None = Field(
        None, description="When the consent ends, if ever (ISO 8601 with offset; before 2200)."
    )
    channel: str = Field("kiosk", description="kiosk, written or app.")
    age: int | None = Field(
        None, strict=True, ge=0, le=130, description="Declared age, when the member may be a minor."
    )
    guardian_name: str | None = Field(
        None, max_length=200, description="The consenting parent or guardian of a minor."
    )
    chain_scope: StrictBool = Field(False, description="Valid at every site of the tenant.")

    @model_validator(mode="after")
    def _one_evidence(self) -> ConsentIn:
        if (self.evidence_text is None) == (self.evidence is None):
            raise ValueError("give exactly one of evidence_text and evidence")
        return self


class ConsentOut(_Model):
    id: str = Field(description="Consent id.")
    member_id: str = Field(description="The member who consented.")
    purpose: str = Field(description="What it is for.")
    channel: str = Field(description="How it was given.")
    scope: Literal["site", "chain"] = Field(description="Home site only, or every site.")
    notice_sha256: str = Field(description="SHA-256 of the notice text shown.")
    evidence_sha256: str = Field(description="SHA-256 of the evidence.")
    given_at: dt.datetime = Field(description="When it was given (UTC).")
    expires_at: dt.datetime | None = Field(description="When it ends, if ever.")
    guardian_name: str | None = Field(description="Consenting guardian of a minor.")


class QualityOut(_Model):
    ok: bool = Field(description="Whether the photo passed the quality gate.")
    reasons: list[str] = Field(description="What to fix, in words, when it did not.")
    face_px: int = Field(description="Face size in pixels.")
    sharpness: float = Field(description="Focus measure (variance of the Laplacian).")
    roll_deg: float = Field(description="Head tilt in degrees.")
    yaw: float = Field(description="Head turn (0 is frontal).")
    brightness: float = Field(description="Mean brightness of the face, 0-255.")
    clipped: float = Field(description="Share of over- or under-exposed face pixels.")


class EnrolmentOut(_Model):
    member_id: str = Field(description="The enrolled member.")
    templates: int = Field(description="Templates stored by this enrolment.")
    quality: list[QualityOut] = Field(description="Quality of each photo stored, in upload order.")
    skipped: list[str] = Field(
        default_factory=list,
        description="A burst's frames the quality gate refused, each with the reason.",
    )
    portrait: bool = Field(False, description="A reference portrait for staff was stored.")


# Data-subject rights: the library's receipts (``consent/receipts.py``) with their fields and
# descriptions, declared there once; each response model is derived from its record.
_RECORD_MODELS: dict[type, str] = {
    WithdrawalReceipt: "ReceiptOut",
    ErasureDeleted: "ErasureDeleted",
    ErasureReceipt: "ErasureOut",
    ExportedMember: "ExportMember",
    ExportedConsent: "ExportConsent",
    ExportedTemplate: "ExportTemplate",
    ExportedPurchase: "ExportPurchase",
    ExportedPicture: "ExportPicture",
    MemberExport: "ExportOut",
}
_derived_models: dict[type, type[_Model]] = {}


def derived_model(record: type) -> type[_Model]:
    """The response model of a library record: its fields, types and descriptions; records
    nested in it become nested models, tuples lists. Built once per record."""
    if record not in _derived_models:
        hints = typing.get_type_hints(record, include_extras=True)
        fields: dict[str, Any] = {}
        for item in dataclasses.fields(record):
            kind, *extras = typing.get_args(hints[item.name])
            about = next(e for e in extras if isinstance(e, About))
            fields[item.name] = (_response_type(kind), Field(description=about.text))
        _derived_models[record] = create_model(
            _RECORD_MODELS[record], __base__=_Model, __module__=__name__, **fields
        )
    return _derived_models[record]


def _response_type(kind: Any) -> Any:
    if dataclasses.is_dataclass(kind) and isinstance(kind, type):
        return derived_model(kind)
    if typing.get_origin(kind) is tuple:
        (item, _) = typing.get_args(kind)
        return list[_response_type(item)]  # type: ignore[misc]
    return kind


ReceiptOut = derived_model(WithdrawalReceipt)
ErasureOut = derived_model(ErasureReceipt)
ExportOut = derived_model(MemberExport)


class PurchaseImportOut(_Model):
    rows: int = Field(description="Purchases stored.")
    members: int = Field(description="Members they belong to.")


# Events, footfall, calibration


class EventOut(_Model):
    seq: int = Field(description="Outbox sequence number (the event stream's id).")
    id: str = Field(description="Event id.")
    kind: str = Field(description="Event kind.")
    at: dt.datetime = Field(description="When it happened (UTC).")
    site_id: str = Field(description="Site id.")
    camera_id: str | None = Field(description="Camera id, if from a camera.")
    member_id: str | None = Field(description="Member concerned, if any.")
    status: str | None = Field(description="Door mode: pending, confirmed or dismissed.")
    payload: dict[str, Any] = Field(description="Event details (never biometric data).")


class EventPage(_Model):
    items: list[EventOut] = Field(description="Events in sequence order, newest last.")
    last_seq: int | None = Field(description="Pass as 'after' to get the events that follow.")


class ClaimIn(_Model):
    camera: str = Field(max_length=200, description="Camera id or name (verify mode).")
    member_id: str = Field(max_length=64, description="The member who claims to be at the camera.")
    site: str | None = Field(
        None, max_length=200, description="Site of the camera, when names repeat."
    )
    ttl_s: StrictFloat | None = Field(None, gt=0, le=3600, description="Seconds until it expires.")


class ConfirmIn(_Model):
    # Strict: only JSON true or false decides what happens to a member's door event.
    confirm: StrictBool = Field(True, description="true to confirm, false to dismiss.")


class FootfallRow(_Model):
    camera_id: str = Field(description="Camera id.")
    camera: str = Field(description="Camera name.")
    site: str = Field(description="Site name.")
    hour: dt.datetime = Field(description="Start of the UTC hour.")
    entries: int = Field(description="Line crossings inwards.")
    exits: int = Field(description="Line crossings outwards.")
    visits: int = Field(description="Tracks that ended in the hour.")
    dwell_seconds: int = Field(description="Their dwell, summed, in s.")
    mean_dwell_s: float | None = Field(description="Mean dwell in s; none without visits.")


class FootfallTotals(_Model):
    entries: int = Field(description="Entries in the period.")
    exits: int = Field(description="Exits in the period.")
    visits: int = Field(description="Visits in the period.")
    dwell_seconds: int = Field(description="Dwell summed over visits, in s.")


class FootfallOut(_Model):
    since: dt.datetime = Field(description="Start of the period (UTC).")
    until: dt.datetime = Field(description="End of the period (UTC, exclusive).")
    rows: list[FootfallRow] = Field(description="One per camera and hour, by hour then camera.")
    totals: FootfallTotals = Field(description="Sums over the rows.")


class TradeoffRow(_Model):
    false_alerts_per_1000: float = Field(
        description="Expected false alerts per 1,000 non-member visitors (the budget)."
    )
    threshold: float = Field(description="Track threshold (fused distance) giving it.")
    expected_member_recall_1_photo: float = Field(
        description="Expected share of member visits recognised, enrolled from one photo."
    )
    expected_member_recall_3_photos: float = Field(
        description="Expected share of member visits recognised, enrolled from three photos."
    )


class CameraCalibrationOut(TradeoffRow):
    """What the site's cameras decide at: the budget in force and the trade-off at this size."""

    budget_source: Literal["site", "model card"] = Field(
        description="Whether the site's admin chose the budget or the model card's default holds."
    )
    tradeoff: list[TradeoffRow] = Field(description="The trade-off at each measured budget.")
    measured_gallery_sizes: list[int] = Field(description="Gallery sizes the card measured.")
    note: str | None = Field(description="What a gallery beyond the measured sizes means.")


class BudgetIn(_Model):
    false_alerts_per_1000: float | None = Field(
        description="Expected false alerts per 1,000 non-member visitors the cameras may make "
        "(within the model card's measured range); null: the model card's default.",
    )


# Accuracy from staff answers to door alerts (events/accuracy.py)


class AnswerCounts(_Model):
    alerts: int = Field(description="Door alerts in the period.")
    confirmed: int = Field(description="Alerts staff confirmed (it was the member).")
    dismissed: int = Field(description="Alerts staff dismissed (it was not the member).")
    unanswered: int = Field(
        description="Alerts still pending after the hold time (10 min): staff never answered."
    )
    waiting: int = Field(description="Alerts pending within the hold time: staff may answer.")
    false_alert_rate: float | None = Field(
        description="Dismissed / (confirmed + dismissed); null without answers."
    )
    ci95: list[float] = Field(
        description="Wilson 95% interval of that share, [low, high]; [0, 1] without answers."
    )


class CameraAccuracyOut(AnswerCounts):
    camera_id: str | None = Field(description="Camera id.")
    camera: str = Field(description="Camera name.")


class WeekAccuracyOut(AnswerCounts):
    week: str = Field(description="ISO week, e.g. 2026-W49 (Monday to Sunday, UTC).")
    start: dt.date = Field(description="The week's Monday.")


class ProposalOut(_Model):
    threshold: float = Field(description="The proposed stricter track threshold.")
    confirmed_kept: float = Field(
        description="Share of the confirmed alerts it would still have raised."
    )
    dismissed_share: float = Field(
        description="Share dismissed among the answered alerts it would still have raised."
    )
    dismissed_avoided: int = Field(description="Dismissed alerts it would not have raised.")
    confirmed_lost: int = Field(description="Confirmed alerts (members) it would have missed.")


class DistanceQuantiles(_Model):
    count: int = Field(description="Alerts with a recorded distance.")
    min: float | None = Field(description="Smallest distance.")
    p25: float | None = Field(description="First quartile.")
    median: float | None = Field(description="Median.")
    p75: float | None = Field(description="Third quartile.")
    max: float | None = Field(description="Largest distance.")


class DistanceHistogram(_Model):
    edges: list[float] = Field(description="Bin edges (one more than bins), shared by both.")
    confirmed: list[int] = Field(description="Confirmed alerts per bin.")
    dismissed: list[int] = Field(description="Dismissed alerts per bin.")


class DistancesOut(_Model):
    confirmed: DistanceQuantiles = Field(description="Distances of confirmed alerts.")
    dismissed: DistanceQuantiles = Field(description="Distances of dismissed alerts.")
    histogram: DistanceHistogram = Field(description="Both, in equal bins.")


class AccuracyOut(AnswerCounts):
    site: str = Field(description="Site name.")
    days: int = Field(description="Days the report covers, up to now.")
    threshold: float = Field(description="Track threshold in force at the site's cameras.")
    per_camera: list[CameraAccuracyOut] = Field(
        description="The same counts per door camera (and per camera with alerts), by name."
    )
    per_week: list[WeekAccuracyOut] = Field(
        description="The same counts per ISO week of the period, oldest first."
    )
    since: dt.datetime = Field(description="Start of the period (UTC).")
    until: dt.datetime = Field(description="End of the period: the time of the report (UTC).")
    hold_s: float = Field(description="Seconds a door alert waits before it is unanswered.")
    threshold_source: Literal["model card", "site override"] = Field(
        description="Whether the model card's threshold or the admin's stricter one is in force."
    )
    model_card_threshold: float = Field(
        description="The model card's track threshold for the site's gallery and budget."
    )
    threshold_override: float | None = Field(
        description="The stricter threshold an admin applied; null: none."
    )
    dismissal_budget: float = Field(
        description="Share of answered alerts staff may dismiss before the site is over budget."
    )
    budget_source: Literal["site", "default"] = Field(
        description="Whether the site's admin set the budget or the default (1 in 50) holds."
    )
    at_threshold: AnswerCounts = Field(
        description="The same counts for the alerts the threshold in force would still raise "
        "(distance at or below it): what the budget is judged on, so a threshold just applied "
        "is not blamed for the alerts it cuts off."
    )
    budget_status: Literal["over", "within", "unclear", "no answers"] = Field(
        description="over/within: the whole interval above/at or below the budget; unclear: "
        "it straddles the budget (more answers will tell)."
    )
    over_budget: bool = Field(
        description="The dismissed share is above the budget with confidence (the interval's "
        "lower bound is above it)."
    )
    proposal: ProposalOut | None = Field(
        description="When over budget: the largest stricter threshold at which the same answers "
        "meet the budget keeping 80% of confirmed alerts; null otherwise or if none does."
    )
    proposal_note: str | None = Field(description="Why no threshold is proposed, when over.")
    distances: DistancesOut = Field(description="Match distances, confirmed against dismissed.")


class AccuracySummaryOut(_Model):
    days: int = Field(description="Days of staff answers summarised, up to now.")
    answered: int = Field(description="Door alerts confirmed or dismissed in them.")
    false_alert_rate: float | None = Field(description="Share of those dismissed.")
    ci95: list[float] = Field(description="Its Wilson 95% interval.")
    dismissal_budget: float = Field(description="The share staff may dismiss.")
    over_budget: bool = Field(description="Above the budget with confidence.")
    proposed_threshold: float | None = Field(description="Stricter threshold proposed, if any.")
    threshold_in_force: float = Field(description="Track threshold the cameras decide at.")
    threshold_override: float | None = Field(description="The admin's override, if any.")


class ThresholdIn(_Model):
    threshold: StrictFloat | None = Field(
        description="A stricter track threshold for the site's cameras (above 0, below the model "
        "card's); null: back to the model card's. Audited."
    )


class DismissalBudgetIn(_Model):
    dismissal_budget: StrictFloat | None = Field(
        description="Share of answered door alerts staff may dismiss, between 0 and 1 "
        "(exclusive); null: the default, 0.02. Audited."
    )


class CalibrationOut(_Model):
    site: str = Field(description="Site name.")
    jurisdiction: str = Field(description="Profile code.")
    gallery_members: int = Field(description="N: members searched at the site.")
    target_fpir: float = Field(description="Target false-positive identification rate.")
    threshold: float = Field(description="Distance threshold in force.")
    fmr_requested: float = Field(description="Per-comparison FMR the target needs (FPIR / N).")
    fmr_in_force: float = Field(description="FMR in force (clamped to the measured range).")
    measured_fmr_range: list[float] = Field(description="Lowest and highest measured FMR.")
    clamped: Literal["floor", "ceiling"] | None = Field(description="Whether the FMR was clamped.")
    note: str | None = Field(description="What clamping means for this site, in words.")
    expected_fpir: float = Field(description="Expected FPIR at the threshold.")
    expected_false_alerts_per_1000_non_members: float = Field(
        description="Expected false alerts per 1,000 non-member visitors."
    )
    expected_fnmr: float = Field(description="Expected share of member visits missed.")
    model_card_version: str = Field(description="Model card the figures come from.")
    cameras: CameraCalibrationOut = Field(
        description="Camera decisions (fused views of a track): budget, threshold, trade-off."
    )
    filing: FilingOut | None = Field(description="Filing status, where the profile has one.")
    accuracy: AccuracySummaryOut = Field(
        description="What the last 30 days of staff answers to door alerts say."
    )


# Audit, webhooks, retention


class AuditEntryOut(_Model):
    seq: int = Field(description="Sequence number in the chain.")
    at: dt.datetime = Field(description="When (UTC).")
    actor: str = Field(description="Who.")
    action: str = Field(description="What.")
    subject: str | None = Field(description="Id of what it concerns.")
    details: dict[str, Any] = Field(description="Plain details (never biometric content).")
    prev_hash: str = Field(description="Hash of the previous entry.")
    hash: str = Field(description="Hash of this entry.")


class AuditPage(_Model):
    entries: list[AuditEntryOut] = Field(description="The tenant's entries, by sequence.")
    next_after_seq: int | None = Field(description="Pass as after_seq for the next page.")


class AuditAnchor(_Model):
    seq: StrictInt = Field(ge=0, lt=SEQ_END, description="The entry's seq (0: the empty chain).")
    hash: str = Field(pattern="^[0-9a-f]{64}$", description="The entry's hash.")
    at: IsoDateTime | None = Field(None, description="The entry's time (UTC).")


class AuditAnchorsIn(_Model):
    anchors: list[AuditAnchor] = Field(
        max_length=10_000,
        description="Anchors kept outside the database (GET /audit/anchor, regularly).",
    )


class AuditVerifyOut(_Model):
    ok: bool = Field(description="Whether the whole chain is intact.")
    entries: int = Field(description="Entries checked (the chain is shared by every tenant).")
    first_bad_seq: int | None = Field(description="First entry that does not fit.")
    reason: str | None = Field(description="What is wrong with it.")


class WebhookIn(_Model):
    url: str = Field(min_length=1, max_length=2000, description="http(s) endpoint.")
    site: str | None = Field(None, description="Site whose events it gets; all sites if unset.")


class WebhookOut(_Model):
    id: str = Field(description="Webhook id.")
    url: str = Field(description="Endpoint.")
    site: str | None = Field(description="Site name; none for every site.")
    active: bool = Field(description="Whether it receives deliveries.")
    created_at: dt.datetime = Field(description="When added (UTC).")
    deliveries: dict[str, int] = Field(description="Deliveries per status.")


class WebhookCreated(WebhookOut):
    secret: str = Field(description="Signing secret: shown once, never again.")


# People and access: users and API tokens (only owners and admins; never a secret once shown)

# The roles of auth.roles.ROLES, spelled out so the document lists them (a test keeps the two
# equal).
Role = Literal["owner", "admin", "staff", "auditor", "kiosk"]
SiteNames = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=200)]], Field(min_length=1, max_length=100)
]


class UserOut(_Model):
    id: str = Field(description="User id (addresses the user in these routes).")
    name: str = Field(description="User name, unique in the tenant (what they log in with).")
    role: Role = Field(description="What the user may do.")
    sites: list[str] | None = Field(description="Site names the user is confined to; null: all.")
    disabled: bool = Field(description="A disabled user cannot log in; their tokens do not work.")
    created_at: dt.datetime = Field(description="When added (UTC).")


class UserIn(_Model):
    name: str = Field(min_length=1, max_length=200, description="User name (1-200 characters).")
    role: Role = Field(description="Role; at most the caller's (an admin never adds an owner).")
    sites: SiteNames | None = Field(None, description="Confine to these sites; null: every site.")


class UserCreated(UserOut):
    password: str = Field(
        description="The new user's one-time password: shown in this answer only, never again."
    )


class UserChangeIn(_Model):
    role: Role | None = Field(None, description="New role (absent: unchanged).")
    sites: SiteNames | None = Field(
        None, description="New sites; null: every site; absent: unchanged."
    )


class PasswordResetOut(_Model):
    user: UserOut = Field(description="The user whose password was reset.")
    password: str = Field(
        description="The new password: shown in this answer only, never again. Their sessions "
        "have ended."
    )


class TokenOut(_Model):
    id: str = Field(description="Token id.")
    prefix: str = Field(description="The public part of the token (cc_<prefix>_...).")
    user: str = Field(description="The user the token acts as.")
    label: str = Field(description="What the token is for.")
    role: Role = Field(description="The token's role (at most its user's).")
    sites: list[str] | None = Field(description="Site names it covers; null: its user's sites.")
    state: Literal["active", "expired", "revoked"] = Field(description="Whether it works.")
    created_at: dt.datetime = Field(description="When issued (UTC).")
    expires_at: dt.datetime | None = Field(description="When it stops working (UTC).")
    last_used_at: dt.datetime | None = Field(description="Last use, to the minute (UTC).")
    revoked_at: dt.datetime | None = Field(description="When revoked (UTC).")


class TokenIn(_Model):
    user: str = Field(min_length=1, max_length=200, description="User name the token acts as.")
    label: str = Field(min_length=1, max_length=200, description="What it is for (e.g. a till).")
    role: Role | None = Field(None, description="Role (at most the user's); null: the user's.")
    sites: SiteNames | None = Field(None, description="Sites (the user's at most); null: theirs.")
    days: StrictInt = Field(90, ge=1, le=3650, description="Days until it expires (1-3650).")


class TokenCreated(TokenOut):
    token: str = Field(
        description="The token (send it as 'Authorization: Bearer <token>'): shown in this "
        "answer only, never again; only its hash is stored."
    )


class WebhookTestOut(_Model):
    webhook_id: str = Field(description="Webhook id.")
    event_id: str = Field(description="Id of the test event sent (kind webhook.test, seq 0).")
    at: dt.datetime = Field(description="When it was sent (UTC); the signature's time.")
    delivered: bool = Field(description="Whether the receiver answered with a 2xx status.")
    status_code: int | None = Field(description="The receiver's HTTP status; null: no answer.")
    error: str | None = Field(description="Short reason, as deliveries record it; null if OK.")
    detail: str = Field(description="What happened, in words.")


class DeliveryOut(_Model):
    id: int = Field(description="Delivery id.")
    event_id: str = Field(description="The event delivered.")
    event_kind: str = Field(description="Its kind.")
    event_at: dt.datetime = Field(description="When the event happened (UTC).")
    seq: int = Field(description="Its outbox sequence number (the stream's event id).")
    status: Literal["pending", "delivered", "failed"] = Field(
        description="pending (due or retrying), delivered, or failed for good."
    )
    attempts: int = Field(description="Attempts made so far.")
    last_error: str | None = Field(description="Last attempt's reason (HTTP 500, ConnectError).")
    last_error_words: str | None = Field(description="The same in words.")
    next_attempt_at: dt.datetime | None = Field(description="Pending: when the next is due.")
    delivered_at: dt.datetime | None = Field(description="When the receiver accepted it.")


class TemplatesDeleted(_Model):
    expired_consent: int = Field(description="Templates whose consent expired.")
    withdrawn_consent: int = Field(description="Templates whose consent was withdrawn.")
    inactive: int = Field(description="Templates of members inactive past the profile's limit.")


class PurgeOut(_Model):
    templates_deleted: TemplatesDeleted = Field(description="Templates deleted, by reason.")
    events_deleted: int = Field(description="Events past retention.")
    footfall_deleted: int = Field(description="Footfall hours past retention.")
    held_views_deleted: int = Field(
        description="Door views held for alerts nobody confirmed in time (never templates)."
    )
    snapshots_deleted: int = Field(
        description="Door snapshots of alerts nobody answered in time, or past their retention."
    )
    pictures_deleted: int = Field(
        description="Pictures for staff whose consent ended or whose member has no template."
    )
    at: dt.datetime = Field(description="The time the rules were applied at (UTC).")


class ErrorOut(_Model):
    """The one error body of the API, whatever the status (validation errors included)."""

    error: str = Field(description="What went wrong, in words.")


def error_response(description: str, **extra: Any) -> dict[str, Any]:
    return {"model": ErrorOut, "description": description, **extra}


# The error answers and their shape, for the OpenAPI document. Routers declare ERROR_RESPONSES
# (every route behind a login); routes add TOO_MANY_REQUESTS where a rate limit applies.
UNAUTHENTICATED: dict[int | str, dict[str, Any]] = {
    401: error_response(
        "No valid API token or session: send 'Authorization: Bearer <token>' or log in.",
        headers={"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}},
    )
}
INVALID_REQUEST: dict[int | str, dict[str, Any]] = {
    422: error_response("The request does not fit this document (missing or mistyped input).")
}
TOO_MANY_REQUESTS: dict[int | str, dict[str, Any]] = {
    429: error_response(
        "Too many requests from this client.",
        headers={
            "Retry-After": {
                "description": "Seconds until a request will be allowed again.",
                "schema": {"type": "integer"},
            }
        },
    )
}
# Answered by api.guard.RequestGuard before the body is read past its limit or its deadline.
BODY_REFUSED: dict[int | str, dict[str, Any]] = {
    408: error_response("The body did not arrive within api.body_timeout_s; nothing was stored."),
    413: error_response("The body is over this route's limit; it was not read, nothing stored."),
}
# A member's picture (portrait, door snapshot): personal data that no cache or proxy may keep.
PICTURE_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: error_response("Bad input; nothing was stored."),
    **UNAUTHENTICATED,
    403: error_response(
        "The caller's role or a policy forbids it (or a session request lacks its CSRF header, "
        "or comes from another origin)."
    ),
    404: error_response("Not found (or outside the caller's tenant/sites)."),
    409: error_response(
        "A name already taken, or the same record written at the same moment by another request; "
        "nothing was stored."
    ),
    **INVALID_REQUEST,
    **BODY_REFUSED,
    503: error_response("The store cannot be reached (a database outage); retry later."),
}
