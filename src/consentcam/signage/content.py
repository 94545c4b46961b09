"""What a sign says, per site and jurisdiction profile: one ``Sign`` record that the HTML and
PDF renderers both draw, so the two versions cannot drift apart.

The wording follows ../shared/COMPLIANCE.md (a product checklist, not legal advice) and the
profiles in ``consentcam.consent.profiles``; docs/signage.md lists what each sign carries, why, and
what was not checked against the primary legal text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from consentcam.consent.profiles import FACE_MODES, Profile
from consentcam.errors import InputError
from consentcam.signage.qr import notice_url

PAPERS = ("a4", "letter")
# Printed where the controller or contact was not given, to be filled in by hand.
BLANK = "_" * 28


@dataclass(frozen=True, slots=True)
class SignOptions:
    """Who is responsible and where the full notice lives; none of it is in the settings."""

    controller: str | None = None  # the company (controller, PIPL's "personal information handler")
    contact: str | None = None  # address, e-mail or phone for questions and requests
    base_url: str | None = None  # makes the default (relative) notice URL absolute
    notice_url: str | None = None  # the full notice; default: the kiosk's notice page
    paper: str | None = None  # "a4" or "letter"; default letter for US profiles, else A4
    cjk_font: Path | None = None  # PDF only: a font with Chinese glyphs (found if not given)


@dataclass(frozen=True, slots=True)
class SignSite:
    """The site a sign is for: its name, the camera modes in use there, and its id (which the
    public notice page is addressed by)."""

    name: str
    modes: frozenset[str] = field(default_factory=frozenset)
    id: str | None = None


@dataclass(frozen=True, slots=True)
class Block:
    title: str
    lines: tuple[str, ...]
    title_zh: str | None = None


@dataclass(frozen=True, slots=True)
class Sign:
    site: str
    profile: str  # the profile's code
    heading: str
    heading_zh: str | None  # PIPL 26 signs are bilingual
    statement: str  # the profile's core sentence, printed large
    blocks: tuple[Block, ...]
    notice_url: str
    notice_caption: str
    placement: str  # where to post it: printed small at the foot
    paper: str
    prominent: bool  # PIPL 26 "prominent sign": larger type, heavy frame
    source: str


def sign_content(site: SignSite, rules: Profile, options: SignOptions) -> Sign:
    """The sign for ``site`` under ``rules``. Raises InputError for a bad paper size or a notice
    URL that cannot be made absolute (a QR code must open on a phone)."""
    recognition = bool(rules.allowed_modes & FACE_MODES)
    blocks = (
        _recognition_blocks(site, rules, options)
        if recognition
        else _counting_blocks(rules, options)
    )
    return Sign(
        site=site.name,
        profile=rules.code,
        heading=HEADINGS.get(rules.code, HEADINGS["eu"]),
        heading_zh=HEADINGS_ZH.get(rules.code),
        statement=rules.signage,
        blocks=blocks,
        notice_url=notice_url(site.name, options.base_url, options.notice_url, site.id),
        notice_caption=CAPTIONS.get(rules.code, "Full notice: scan the code or visit"),
        placement=PLACEMENT.get(rules.code, "Post at every entrance and beside each camera."),
        paper=_paper(rules, options.paper),
        prominent=rules.code == "cn",
        source=rules.source,
    )


def duration(days: int) -> str:
    """Days as people say them: '3 years', '90 days'."""
    if days == 0:
        return "not kept"
    if days % 365 == 0:
        years = days // 365
        return f"{years} year{'s' if years > 1 else ''}"
    return f"{days} day{'s' if days > 1 else ''}"


HEADINGS = {
    "eu": "Face recognition here: only for members who consent",
    "cn": "Face recognition area",
    "us-il": "Biometric information notice",
    "us-tx": "Biometric identifier notice",
    # The heading of the sign NYC Admin. Code 22-1202(a) requires (see docs/signage.md).
    "us-nyc": "Biometric Identifier Information Collected at This Location",
    "us-portland": "Visitors are counted anonymously: no face recognition",
    "none": "Face recognition here: only for members who consent",
}
HEADINGS_ZH = {"cn": "人脸识别区域"}
TITLES_ZH = {
    "responsible": "个人信息处理者",
    "how": "识别方式",
    "why": "处理目的",
    "never": "我们不做的事",
    "retention": "保存期限",
    "basis": "法律依据",
    "rights": "您的权利",
    "withdraw": "如何撤回同意",
    "contact": "联系方式",
}
CAPTIONS = {
    "eu": "Full notice (GDPR art. 13): scan the code or visit",
    "cn": "完整告知 Full notice: scan the code or visit",
    "us-il": "Full notice and our public retention policy: scan the code or visit",
}
PLACEMENT = {
    "us-nyc": "Post near every customer entrance (NYC Admin. Code 22-1202(a)).",
    "cn": "Post prominently at every entrance and beside each recognition camera (PIPL art. 26).",
}
MODE_LINES = {
    "verify": "Members who want to be recognised show their member QR code or number; the "
    "camera then checks that one member's face (1:1).",
    "lane": "Cameras at the marked members' lane compare faces on that lane with enrolled "
    "members only.",
    "door": "The entrance camera compares each face with enrolled members; a non-member's face "
    "is discarded at once, in memory, and staff confirm a match before any action beyond a "
    "greeting.",
    "count": "Other cameras only count people: faces are detected, never recognised or stored.",
}
NEVER = (
    "No guessing of ethnicity, emotion, age or any other trait.",
    "No identification of people who are not members, and no tracking of them across visits.",
    "No collection of faces from camera footage.",
    "Biometric data is never sold, leased, traded or shared.",
)


def _recognition_blocks(site: SignSite, rules: Profile, options: SignOptions) -> tuple[Block, ...]:
    blocks = [
        _block("responsible", _responsible_title(rules), (options.controller or BLANK,)),
        _block(
            "why",
            "Why",
            (
                "To recognise members who chose to opt in, so that staff can greet them and see "
                "their purchase history.",
                "Everyone else is counted anonymously (entries, exits, time spent); no template "
                "or image of their face is kept.",
            ),
        ),
    ]
    if site.modes:
        how = tuple(MODE_LINES[m] for m in ("verify", "lane", "door", "count") if m in site.modes)
        blocks.append(_block("how", "How it works here", how))
    if rules.code == "us-nyc":
        blocks.append(_block("nyc", "What this business does with it", _nyc_lines(site)))
    blocks += [
        _block("never", "What we never do", NEVER),
        _block("retention", "How long we keep it", _retention_lines(rules)),
        _block("basis", *_basis(rules)),
    ]
    if rules.code in RIGHTS:
        blocks.append(_block("rights", "Your rights", RIGHTS[rules.code]))
    blocks += [
        _block("withdraw", "How to withdraw", WITHDRAW),
        _block("contact", "Contact", (options.contact or BLANK,)),
    ]
    return tuple(blocks)


def _counting_blocks(rules: Profile, options: SignOptions) -> tuple[Block, ...]:
    return (
        _block("responsible", "Who is responsible", (options.controller or BLANK,)),
        _block(
            "why",
            "What happens here",
            (
                "Cameras count visitors anonymously: entries, exits and time spent.",
                "No face recognition is used: faces are only detected to count people, never "
                f"identified, compared or stored ({rules.source}).",
            ),
        ),
        _block("never", "What we never do", NEVER),
        _block(
            "retention",
            "How long we keep it",
            (f"Anonymous hourly counts: {duration(rules.footfall_retention_days)}.",),
        ),
        _block("contact", "Contact", (options.contact or BLANK,)),
    )


def _retention_lines(rules: Profile) -> tuple[str, ...]:
    limit = duration(rules.template_inactivity_days or 0)
    if rules.code == "us-il":
        template = (
            "Members' face templates: destroyed when the purpose is met (you withdraw, or your "
            f"consent ends) or {limit} after your last interaction, whichever comes first."
        )
    else:
        template = (
            "Members' face templates: deleted when you withdraw or your consent expires, and at "
            f"the latest {limit} after your last visit."
        )
    return (
        template,
        "Records of recognitions (who, when, which camera): "
        f"{duration(rules.event_retention_days)}.",
        f"Anonymous visitor counts: {duration(rules.footfall_retention_days)}.",
    )


def _basis(rules: Profile) -> tuple[str, tuple[str, ...]]:
    if rules.code == "eu":
        return "Legal basis", (
            "Your explicit consent (GDPR art. 9(2)(a)), given separately at the kiosk. "
            "Membership and its benefits never depend on it.",
            "No automated decision with legal or similar effect (art. 22): staff confirm.",
        )
    if rules.code == "cn":
        return "Legal basis", (
            "Your separate consent (PIPL art. 26, 29), given at the kiosk. Images are used for "
            "no other purpose, and membership never depends on consent.",
        )
    if rules.code == "us-il":
        return "Written release", (
            "Before any biometric identifier is collected you receive, in writing, this notice "
            "that a biometric identifier (face geometry) is collected and stored, for what "
            "purpose and for how long, and you sign a written release (740 ILCS 14/15(b)).",
            "Our retention policy is public: at the desk and at the address the code opens "
            "(740 ILCS 14/15(a)).",
        )
    return "Your choice", (
        "Recognition only with your consent, given at the kiosk. Membership and its benefits "
        "never depend on it.",
    )


def _responsible_title(rules: Profile) -> str:
    if rules.code == "eu":
        return "Controller (who is responsible)"
    if rules.code == "cn":
        return "Personal information handler"
    return "Who is responsible"


def _block(key: str, title: str, lines: tuple[str, ...]) -> Block:
    return Block(title=title, lines=lines, title_zh=TITLES_ZH.get(key))


def _nyc_lines(site: SignSite) -> tuple[str, ...]:
    """What is collected, converted, retained, stored or shared, as applicable (22-1202(a))."""
    scans = site.modes & {"lane", "door"}
    if not scans:
        return NYC_LINES
    where = " and ".join(sorted("entrance" if m == "door" else "members' lane" for m in scans))
    return (
        NYC_LINES[0],
        NYC_LINES[1],
        f"Converts, at the {where} camera{'s' if len(scans) > 1 else ''}: each face seen into "
        "a template, to check it against members; a non-member's is discarded at once and "
        "never stored.",
        *NYC_LINES[2:],
    )


def _paper(rules: Profile, paper: str | None) -> str:
    if paper is None:
        return "letter" if rules.code.startswith("us-") else "a4"
    if paper.lower() not in PAPERS:
        raise InputError(f"unknown paper size {paper!r}; choose one of: {', '.join(PAPERS)}")
    return paper.lower()


NYC_LINES = (
    "Collects: face images of members who consent, at the kiosk and at the cameras marked for "
    "members.",
    "Converts: each image into a face template (a list of numbers).",
    "Retains and stores: the templates, encrypted, for the times below.",
    "Shares: no. Biometric identifier information is never sold, leased, traded, shared for "
    "anything of value or otherwise profited from.",
)
RIGHTS = {
    "eu": (
        "Access, rectification, erasure, restriction, objection and portability "
        "(GDPR art. 15-21); withdraw consent at any time (art. 7(3)).",
        "You may complain to a data protection supervisory authority, for example where you "
        "live or work (art. 77).",
    ),
    "cn": (
        "You may see, copy, correct and delete your information and withdraw consent "
        "(PIPL art. 15, 44-47).",
    ),
}
WITHDRAW = (
    "At the kiosk, at the service desk or on the page the code below opens: as easy as giving "
    "consent.",
    "Your face template is deleted at once and you get a deletion receipt; your membership and "
    "its benefits stay the same.",
)
