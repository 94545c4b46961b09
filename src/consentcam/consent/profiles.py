"""Jurisdiction profiles as data: what each legal regime allows and requires.

A product checklist drawn from ../shared/COMPLIANCE.md, not legal advice. Every rule the code
enforces reads these records; nothing about a jurisdiction is hard-coded elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from consentcam.errors import InputError

MODES = ("count", "verify", "lane", "door")
# The one purpose a face template may serve; consents name it explicitly (PIPL 14, GDPR 7).
RECOGNITION = "recognition"
# Notice versions whose text tells the member that confirmed visits refine their template
# (consent/visits.py), and how many such templates a member keeps.
VISIT_NOTICE_VERSIONS = frozenset({"v2", "v3"})
VISIT_TEMPLATES_MAX = 5
# A held door view, and an unanswered alert's snapshot, wait this long for staff to answer, in
# s; unanswered, they are deleted.
HOLD_S = 600.0
# The optional second purpose: pictures of the member shown to staff so they can check an alert
# (a reference portrait from enrolment, the door camera's snapshot of the recognised visit). Its
# own consent record, asked separately; only notices of these versions describe it.
PORTRAIT = "portrait"
PURPOSES = (RECOGNITION, PORTRAIT)
PORTRAIT_NOTICE_VERSIONS = frozenset({"v3"})
# How long a confirmed visit's door snapshot is kept at most, in days (the profile's event
# retention applies if it is shorter); a dismissed or unanswered alert's goes at once.
SNAPSHOT_RETENTION_DAYS = 30


def visit_notice_sentence(version: str) -> str:
    """What a notice of ``version`` says about visit templates ('' if it does not allow them)."""
    if version not in VISIT_NOTICE_VERSIONS:
        return ""
    return (
        " With this version of the notice, a visit that staff confirm was you (or a check-in "
        "the kiosk camera confirmed) may also store one view of your face from that visit as "
        f"an extra template, at most {VISIT_TEMPLATES_MAX} of them, the oldest replaced; they "
        "are deleted with the rest."
    )


def portrait_notice_sentence(version: str) -> str:
    """What a notice of ``version`` says about the optional portrait purpose ('' if nothing)."""
    if version not in PORTRAIT_NOTICE_VERSIONS:
        return ""
    return (
        " Separately, and only if you tick its own box: staff may be shown a small photo of your "
        "face taken at enrolment and the door camera's picture of you when you are recognised, "
        "so they can check it is you before they act. A door picture is deleted at once if staff "
        f"say it is not you or do not answer, otherwise after {SNAPSHOT_RETENTION_DAYS} days at "
        "most; both go when you withdraw either consent. Saying no changes nothing else."
    )


FACE_MODES = frozenset({"verify", "lane", "door"})
# Footfall buckets are aggregate counts with no identifier, so they are not personal data (GDPR
# recital 26, PIPL 4, BIPA and CUBI cover biometric identifiers only) and no regime caps their
# retention. Two years allows year-on-year comparison; every profile, us-portland included, keeps
# them that long, well past the events that can name a member.
FOOTFALL_RETENTION_DAYS = 730


@dataclass(frozen=True, slots=True)
class Profile:
    code: str
    name: str
    allowed_modes: frozenset[str]
    separate_biometric_consent: bool  # PIPL 29, GDPR 9(2)(a): its own screen, not in the T&Cs
    written_release: bool  # BIPA 15(b): a signed release stored with the consent
    guardian_under: int | None  # age below which a guardian must consent
    template_inactivity_days: int | None  # destroy templates this long after last interaction
    event_retention_days: int
    footfall_retention_days: int  # anonymous hourly counts per camera (see FOOTFALL_RETENTION_DAYS)
    filing_thresholds: tuple[int, ...]  # enrolled-people counts that trigger regulator filing
    signage: str  # the sign's core sentence; the full sign adds controller, purpose, contact
    source: str


PROFILES: dict[str, Profile] = {
    p.code: p
    for p in (
        Profile(
            code="eu",
            name="European Union (GDPR, AI Act)",
            allowed_modes=frozenset(MODES),
            separate_biometric_consent=True,
            written_release=False,
            guardian_under=16,
            template_inactivity_days=365,
            event_retention_days=90,
            footfall_retention_days=FOOTFALL_RETENTION_DAYS,
            filing_thresholds=(),
            signage="Face recognition is used here only for members who gave explicit consent. "
            "Everyone else is counted anonymously; no other face is kept.",
            source="GDPR 6, 7, 9(2)(a), 17, 30, 35; AI Act 5(1)(e)-(g), 14",
        ),
        Profile(
            code="cn",
            name="China (PIPL, face recognition measures 2025)",
            # PIPL 26: identification equipment in public venues is for public security; members
            # may still verify themselves (1:1) or use a marked opt-in lane.
            allowed_modes=frozenset({"count", "verify", "lane"}),
            separate_biometric_consent=True,
            written_release=False,
            guardian_under=14,
            template_inactivity_days=365,
            event_retention_days=90,
            footfall_retention_days=FOOTFALL_RETENTION_DAYS,
            filing_thresholds=(80_000, 100_000),
            signage="人脸识别区域：仅识别已单独同意的会员，其他顾客仅匿名计数。"  # noqa: RUF001 - Chinese punctuation
            " Face recognition area: only members who gave separate consent are recognised.",
            source="PIPL 14, 15, 19, 26, 28-30, 47, 55; face recognition measures 2025",
        ),
        Profile(
            code="us-il",
            name="Illinois (BIPA)",
            allowed_modes=frozenset(MODES),
            separate_biometric_consent=True,
            written_release=True,
            guardian_under=18,
            # BIPA 15(a): at most 3 years after the last interaction.
            template_inactivity_days=3 * 365,
            event_retention_days=365,
            footfall_retention_days=FOOTFALL_RETENTION_DAYS,
            filing_thresholds=(),
            signage="Biometric identifiers are collected here only from members who signed a "
            "written release. Our retention policy is published at the desk and online.",
            source="740 ILCS 14/15(a)-(e)",
        ),
        Profile(
            code="us-tx",
            name="Texas (CUBI)",
            allowed_modes=frozenset(MODES),
            separate_biometric_consent=True,
            written_release=False,
            guardian_under=18,
            template_inactivity_days=365,  # CUBI: destroy within a year after the purpose ends
            event_retention_days=365,
            footfall_retention_days=FOOTFALL_RETENTION_DAYS,
            filing_thresholds=(),
            signage="Face recognition is used here only for members who consented.",
            source="Tex. Bus. & Com. Code 503.001",
        ),
        Profile(
            code="us-nyc",
            name="New York City (Admin. Code 22-1202)",
            allowed_modes=frozenset(MODES),
            separate_biometric_consent=True,
            written_release=False,
            guardian_under=18,
            template_inactivity_days=365,
            event_retention_days=365,
            footfall_retention_days=FOOTFALL_RETENTION_DAYS,
            filing_thresholds=(),
            signage="Biometric identifier information collected at this location: this business "
            "collects, retains, converts, stores or shares customers' biometric identifier "
            "information (face recognition for consenting members only).",
            source="NYC Admin. Code 22-1202",
        ),
        Profile(
            code="us-portland",
            name="Portland, Oregon (City Code 34.10)",
            # Private face recognition is banned in places of public accommodation.
            allowed_modes=frozenset({"count"}),
            separate_biometric_consent=True,
            written_release=False,
            guardian_under=18,
            template_inactivity_days=0,
            event_retention_days=90,
            footfall_retention_days=FOOTFALL_RETENTION_DAYS,
            filing_thresholds=(),
            signage="People are counted anonymously here. No face recognition is used.",
            source="Portland City Code 34.10",
        ),
        Profile(
            code="none",
            name="No specific regime (consent still required)",
            allowed_modes=frozenset(MODES),
            separate_biometric_consent=True,
            written_release=False,
            guardian_under=16,
            template_inactivity_days=3 * 365,
            event_retention_days=365,
            footfall_retention_days=FOOTFALL_RETENTION_DAYS,
            filing_thresholds=(),
            signage="Face recognition is used here only for members who consented.",
            source="product policy",
        ),
    )
}


def profile(code: str) -> Profile:
    try:
        return PROFILES[code]
    except KeyError:
        raise InputError(
            f"unknown jurisdiction {code!r}; choose one of: {', '.join(PROFILES)}"
        ) from None
