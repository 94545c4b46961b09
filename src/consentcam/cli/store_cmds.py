"""Verbs over the store: init, site, camera, member, consent, enroll, identify, withdraw, export,
audit. Each is a thin layer over the ``consentcam.consent`` services.

The library is imported inside each command, not at the top: every command's module loads at each
start of the CLI, ``--help`` included (see ``consentcam.cli``).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import click

from consentcam.cli.common import State, cli_ledger, emit, json_option, print_json
from consentcam.consent.profiles import MODES, PROFILES
from consentcam.errors import InputError
from consentcam.net import redacted_url


@click.command(epilog="Example: consentcam --data-dir store/ init --dev")
@click.option(
    "--dev",
    is_flag=True,
    help="Development mode: generate and keep a local template "
    "key instead of requiring CONSENTCAM_TEMPLATE_KEY.",
)
@json_option
@click.pass_obj
def init(state: State, dev: bool, as_json: bool) -> None:
    """Create the store (SQLite in --data-dir, or the --db-url database) at the latest schema."""
    from consentcam.store.db import database_url

    ledger = cli_ledger(state, create=True, dev=dev or None)
    url = database_url(ledger.settings)
    # The SQLite file's path is shown whole; a database server's URL may carry a password.
    shown = redacted_url(url) if ledger.settings.database_url else url
    emit(as_json, {"store": shown, "key_id": ledger.keys.key_id}, f"store ready: {shown}")


@click.group()
def site() -> None:
    """Sites (stores, venues), each under a jurisdiction profile."""


@site.command("add", epilog="Example: consentcam site add flagship --jurisdiction eu")
@click.argument("name")
@click.option(
    "--jurisdiction",
    required=True,
    type=click.Choice(list(PROFILES)),
    help="Legal profile: allowed modes, consent rules, retention, signage.",
)
@json_option
@click.pass_obj
def site_add(state: State, name: str, jurisdiction: str, as_json: bool) -> None:
    """Add a site."""
    from consentcam.consent.sites import add_site

    s = add_site(cli_ledger(state), name, jurisdiction)
    emit(
        as_json,
        {"site_id": s.id, "name": s.name, "jurisdiction": s.jurisdiction},
        f"site {s.name} ({s.jurisdiction}) added: {s.id}",
    )


@click.group()
def camera() -> None:
    """Cameras and their modes."""


@camera.command(
    "add",
    epilog="""\b
Examples:
  consentcam camera add flagship entrance --source rtsp://cam1/stream --mode count
  consentcam camera add flagship kiosk --source /dev/video0 --mode verify --signage-attested""",
)
@click.argument("site_name", metavar="SITE")
@click.argument("name")
@click.option(
    "--source",
    required=True,
    help="Video file or image folder, rtsp(s):// or http(s):// stream on the camera networks "
    "(CONSENTCAM_SOURCE__CAMERA_NETWORKS; default: private LAN ranges), or webcam (/dev/videoN). "
    "Stream URLs are stored sealed and shown as scheme://host[:port]/… only.",
)
@click.option(
    "--mode",
    required=True,
    type=click.Choice(list(MODES)),
    help="count (no face data), verify (1:1 claim), lane (1:N opt-in lane), door (1:N).",
)
@click.option(
    "--signage-attested",
    is_flag=True,
    help="Confirm the required signs are up; face modes refuse to start without it.",
)
@click.option(
    "--line",
    help="Footfall counting line as x1,y1,x2,y2 in fractions of the frame (crossing it "
    "left-to-right of its direction is an entry) [default: across the middle, top to bottom].",
)
@click.option(
    "--detect-scale",
    type=click.FloatRange(0.05, 4.0),
    help="Scale frames by this before face detection (1.0 for small faces; see `pipeline`).",
)
@json_option
@click.pass_obj
def camera_add(
    state: State,
    site_name: str,
    name: str,
    source: str,
    mode: str,
    signage_attested: bool,
    line: str | None,
    detect_scale: float | None,
    as_json: bool,
) -> None:
    """Add a camera to a site (face modes need the profile's permission and signage)."""
    from consentcam.consent.sites import add_camera

    config: dict[str, Any] = {}
    if line is not None:
        config["footfall_line"] = _numbers(line, 4, "--line")
    if detect_scale is not None:
        config["detect_scale"] = detect_scale
    c = add_camera(cli_ledger(state), site_name, name, source, mode, signage_attested, config)
    emit(
        as_json,
        {"camera_id": c.id, "name": c.name, "mode": c.mode, "source": c.source},  # masked
        f"camera {c.name} ({c.mode}) added: {c.id}",
    )


@camera.command(
    "status",
    epilog="""\b
Examples:
  consentcam camera status                     # every camera of every site
  consentcam camera status --site flagship --json""",
)
@click.option("--site", "site_name", help="Only this site's cameras (default: every site).")
@json_option
@click.pass_obj
def camera_status(state: State, site_name: str | None, as_json: bool) -> None:
    """Each camera's health from its worker's heartbeats in the store: online, offline (and
    why) or never seen; frames per second, drops, reconnects, restarts, last frame, last error.
    The same as the dashboard's Cameras tab and GET /api/v1/sites/{site}/cameras."""
    from consentcam.consent.health import camera_health

    ledger = cli_ledger(state)
    health = camera_health(ledger, site_name)
    if as_json:
        stale_s = ledger.settings.pipeline.stale_after_s
        print_json([{**h.as_dict(), "stale_after_s": stale_s} for h in health])
        return
    if not health:
        click.echo("no cameras")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(
        "site",
        "camera",
        "mode",
        "state",
        "fps",
        "drops",
        "reconnects",
        "restarts",
        "last frame",
        "last error",
    )
    for h in health:
        table.add_row(
            h.site,
            h.camera,
            h.mode,
            f"{h.state}: {h.reason}",
            _shown(h.fps),
            _shown(h.dropped),
            _shown(h.reconnects),
            _shown(h.restarts),
            h.last_frame_at.isoformat(timespec="seconds") if h.last_frame_at else "-",
            h.last_error or "-",
        )
    Console(width=200 if not sys.stdout.isatty() else None).print(table)


def _shown(value: float | int | None) -> str:
    return "-" if value is None else str(value)


def _numbers(text: str, count: int, option: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != count:
        raise click.BadParameter(f"expected {count} comma-separated numbers", param_hint=option)
    return values


@click.group()
def member() -> None:
    """Members of the loyalty programme (enrolment for recognition is separate and optional)."""


@member.command(
    "add", epilog="Example: consentcam member add --site flagship --name 'Ada L.' --json"
)
@click.option("--site", "site_name", required=True, help="The member's home site.")
@click.option("--name", required=True, help="Display name shown to staff.")
@json_option
@click.pass_obj
def member_add(state: State, site_name: str, name: str, as_json: bool) -> None:
    """Add a member; prints the pseudonymous member id."""
    from consentcam.consent.members import add_member

    m = add_member(cli_ledger(state), site_name, name)
    emit(as_json, {"member_id": m.id}, m.id)


@member.command(
    "rectify",
    epilog="""\b
Examples:
  consentcam member rectify 3f2a... --name 'Ada Lovelace'
  consentcam member rectify 3f2a... --profile '{"tier": "gold"}' --json""",
)
@click.argument("member_id", metavar="MEMBER")
@click.option("--name", default=None, help="The corrected display name.")
@click.option(
    "--profile", "profile_json", default=None, help="The whole new profile, as a JSON object."
)
@json_option
@click.pass_obj
def member_rectify(
    state: State, member_id: str, name: str | None, profile_json: str | None, as_json: bool
) -> None:
    """Correct a member's name or replace their profile (rectification on the member's
    request); the audit log records which fields changed, never their values."""
    from consentcam.consent.members import rectify_member

    profile_fields = None
    if profile_json is not None:
        try:
            profile_fields = json.loads(profile_json)
        except json.JSONDecodeError as exc:
            raise InputError(f"--profile is not valid JSON ({exc.msg})") from None
        if not isinstance(profile_fields, dict):
            raise InputError("--profile must be a JSON object")
    m = rectify_member(cli_ledger(state), member_id, name=name, profile_fields=profile_fields)
    emit(as_json, {"member_id": m.id, "name": m.name, "profile": m.profile}, f"{m.id} rectified")


@click.group()
def consent() -> None:
    """The consent ledger."""


@consent.command(
    "record",
    epilog="""\b
Example:
  consentcam consent record 3f2a... --purpose recognition --evidence signed-form.pdf \\
      --expires 2027-12-31""",
)
@click.argument("member_id", metavar="MEMBER")
@click.option(
    "--purpose",
    required=True,
    type=click.Choice(["recognition", "portrait"]),
    help="recognition: the face template; portrait: pictures staff are shown to check an alert "
    "(its own, separate choice; notice v3).",
)
@click.option(
    "--evidence",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Signed form or kiosk record; only its SHA-256 is stored.",
)
@click.option(
    "--notice",
    "notice_version",
    default="v1",
    show_default=True,
    help="Version of the notice text the member was shown.",
)
@click.option("--expires", type=click.DateTime(["%Y-%m-%d"]), help="Last day of validity (UTC).")
@click.option("--chain", "chain_scope", is_flag=True, help="Valid at every site of the chain.")
@click.option(
    "--channel",
    type=click.Choice(["kiosk", "written", "app"]),
    default="kiosk",
    show_default=True,
    help="How consent was given (BIPA sites need 'written').",
)
@click.option(
    "--age",
    type=click.IntRange(0, 130),
    help="Member's age when it decides whether a guardian must consent.",
)
@click.option("--guardian", "guardian_name", help="Parent or guardian who consented for a minor.")
@json_option
@click.pass_obj
def consent_record(
    state: State,
    member_id: str,
    purpose: str,
    evidence: Path,
    notice_version: str,
    expires: dt.datetime | None,
    chain_scope: bool,
    channel: str,
    age: int | None,
    guardian_name: str | None,
    as_json: bool,
) -> None:
    """Record a member's explicit consent."""
    from consentcam.consent.consents import record_consent

    until = expires.replace(tzinfo=dt.UTC) + dt.timedelta(days=1) if expires else None
    c = record_consent(
        cli_ledger(state),
        member_id,
        purpose=purpose,
        evidence=evidence,
        notice_version=notice_version,
        expires=until,
        chain_scope=chain_scope,
        channel=channel,
        age=age,
        guardian_name=guardian_name,
    )
    emit(
        as_json,
        {
            "consent_id": c.id,
            "member_id": member_id,
            "notice_sha256": c.notice_sha256,
            "expires_at": c.expires_at.isoformat() if c.expires_at else None,
        },
        f"consent recorded: {c.id}",
    )


@click.command(
    epilog="""\b
Examples:
  consentcam enroll 3f2a... photo.jpg
  consentcam enroll 3f2a... --burst frame-1.jpg frame-2.jpg frame-3.jpg frame-4.jpg frame-5.jpg
  consentcam enroll 3f2a... photo.jpg --portrait   # after a consent with --purpose portrait"""
)
@click.argument("member_id", metavar="MEMBER")
@click.argument("photos", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--burst",
    is_flag=True,
    help="The photos are 3-5 frames of one capture (looking at the camera, slightly left, "
    "right, up): frames the quality gate refuses are skipped, at least 3 must pass.",
)
@click.option(
    "--portrait",
    is_flag=True,
    help="Also store the first photo's face as the reference portrait staff are shown to "
    "check an alert (needs the member's consent for purpose 'portrait'; off unless asked).",
)
@json_option
@click.pass_obj
def enroll(
    state: State,
    member_id: str,
    photos: tuple[Path, ...],
    burst: bool,
    portrait: bool,
    as_json: bool,
) -> None:
    """Enrol a member from still photos (exits 2 without an active consent). Every photo must
    pass the quality gate, except with --burst. Several views of the face (a burst) make the
    member much easier to recognise at the door than one photo."""
    from consentcam.consent.enrolment import enroll as do_enroll
    from consentcam.consent.enrolment import enroll_burst

    ledger = cli_ledger(state)
    enrol = enroll_burst if burst else do_enroll
    e = enrol(ledger, member_id, list(photos), portrait=portrait)
    skipped = "".join(f"\nskipped {reason}" for reason in e.skipped)
    kept = " and a portrait for staff" if e.portrait else ""
    emit(
        as_json,
        {
            "member_id": e.member_id,
            "templates": e.templates,
            "quality": e.quality,
            "skipped": list(e.skipped),
            "portrait": e.portrait,
        },
        f"enrolled {e.templates} template(s){kept} for {e.member_id}{skipped}",
    )


@click.command(epilog="Example: consentcam identify visitor.jpg --site flagship --json")
@click.argument("photo", type=click.Path(path_type=Path))
@click.option("--site", "site_name", required=True)
@json_option
@click.pass_obj
def identify(state: State, photo: Path, site_name: str, as_json: bool) -> None:
    """The enrolled member in a photo, or unknown (nothing about an unknown face is kept)."""
    from consentcam.consent.enrolment import identify as do_identify

    r = do_identify(cli_ledger(state), photo, site_name)
    doc = {
        "member_id": r.member_id,
        "distance": None if r.distance is None else round(r.distance, 4),
        "threshold": round(r.threshold, 4),
        "gallery_members": r.gallery_members,
    }
    emit(as_json, doc, r.member_id or "unknown")


@click.command(
    epilog="""\b
Examples:
  consentcam withdraw 3f2a... --json
  consentcam withdraw 3f2a... --purpose portrait   # pictures only; recognition goes on"""
)
@click.argument("member_id", metavar="MEMBER")
@click.option(
    "--purpose",
    type=click.Choice(["recognition", "portrait"]),
    help="Withdraw only this purpose (portrait: the pictures staff are shown) [default: all].",
)
@json_option
@click.pass_obj
def withdraw(state: State, member_id: str, purpose: str | None, as_json: bool) -> None:
    """Withdraw consent: templates and pictures deleted at once; prints a deletion receipt."""
    from consentcam.consent.rights import withdraw as do_withdraw

    receipt = do_withdraw(cli_ledger(state), member_id, purpose)
    emit(
        as_json,
        receipt.as_dict(),
        f"withdrawn: {receipt.deleted_templates} template(s) and "
        f"{receipt.deleted_pictures} picture(s) deleted, receipt {receipt.receipt_id}",
    )


@click.command(
    epilog="""\b
Example:
  consentcam erase 3f2a... --yes --json > erasure-receipt.json"""
)
@click.argument("member_id", metavar="MEMBER")
@click.option("--yes", is_flag=True, help="Confirm: the erasure cannot be undone.")
@json_option
@click.pass_obj
def erase(state: State, member_id: str, yes: bool, as_json: bool) -> None:
    """Erase everything held about a member on their request: consents withdrawn and deleted,
    templates, purchases, claims, events naming them and the member record; the audit log keeps
    what was done, by member id only. Prints the erasure receipt."""
    from consentcam.consent.rights import erase_member

    if not yes:
        if not sys.stdin.isatty():
            raise InputError("erasure cannot be undone: add --yes to confirm")
        click.confirm(f"Erase member {member_id} and everything held about them?", abort=True)
    receipt = erase_member(cli_ledger(state), member_id)
    deleted = receipt.deleted
    emit(
        as_json,
        receipt.as_dict(),
        f"erased: {deleted.consents} consent(s), {deleted.templates} template(s), "
        f"{deleted.purchases} purchase(s), {deleted.events} event(s); "
        f"receipt {receipt.receipt_id}",
    )


@click.command("export", epilog="Example: consentcam export 3f2a... --json > member.json")
@click.argument("member_id", metavar="MEMBER")
@json_option
@click.pass_obj
def export(state: State, member_id: str, as_json: bool) -> None:
    """Everything held about a member (templates as metadata only); the read is audited."""
    from consentcam.consent.rights import export_member

    print_json(export_member(cli_ledger(state), member_id).as_dict())


@click.group()
def audit() -> None:
    """The hash-chained audit log."""


@audit.command(
    "verify",
    epilog="""\b
Examples:
  consentcam audit verify --json
  consentcam audit verify --anchors /mnt/worm/consentcam-anchors.jsonl""",
)
@click.option(
    "--anchors",
    "anchors_file",
    type=click.Path(path_type=Path),
    help="JSON lines from 'consentcam audit anchor', kept outside the database: each anchored "
    "entry must still be in the chain, unchanged.",
)
@json_option
@click.pass_obj
def audit_verify(state: State, anchors_file: Path | None, as_json: bool) -> None:
    """Check the whole chain (and that it still holds every anchor given); exits 2 naming the
    first altered, missing or moved entry, or the first anchor cut off or rewritten."""
    from consentcam.audit.chain import parse_anchors, verify

    anchors = []
    if anchors_file is not None:
        try:
            text = anchors_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{anchors_file}: cannot read the anchors ({exc})") from None
        anchors = parse_anchors(text, str(anchors_file))
    ledger = cli_ledger(state)
    with ledger.store.transaction() as s:
        result = verify(s, anchors)
    doc = {
        "ok": result.ok,
        "entries": result.entries,
        "first_bad_entry": result.first_bad_seq,
        "reason": result.reason,
        "anchors": len(anchors),
    }
    if not result.ok:
        if as_json:
            print_json(doc)
        raise InputError(f"audit log broken: {result.reason}")
    anchored = f", {len(anchors)} anchor(s) held" if anchors else ""
    emit(as_json, doc, f"audit log intact: {result.entries} entries{anchored}")


@audit.command(
    "anchor",
    epilog="""\b
Example (daily, from cron, to storage the database's users cannot rewrite):
  consentcam audit anchor >> /mnt/worm/consentcam-anchors.jsonl""",
)
@click.pass_obj
def audit_anchor(state: State) -> None:
    """Print the chain's head (seq, hash, time) as one JSON line. Kept where whoever can write
    the database cannot change it, it lets 'audit verify --anchors' detect a log rewritten or
    cut back since, which a chain recomputed by a database writer would otherwise hide."""
    from consentcam.audit.chain import anchor

    with cli_ledger(state).store.transaction() as s:
        head = anchor(s)
    click.echo(json.dumps(head.as_dict(), separators=(",", ":")))


@click.group()
def keys() -> None:
    """Template encryption keys."""


@keys.command(
    "rotate",
    epilog="""\b
Example:
  python -c "import secrets,base64;
    print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())" > new.key
  chmod 600 new.key
  consentcam keys rotate --new-key-file new.key
  export CONSENTCAM_TEMPLATE_KEY_FILE=new.key""",
)
@click.option(
    "--new-key-file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="File holding the new key (base64 of 32 bytes).",
)
@json_option
@click.pass_obj
def keys_rotate(state: State, new_key_file: Path, as_json: bool) -> None:
    """Re-encrypt and re-transform every template under a new key, in one transaction.
    Templates of an upgraded store sealed before seals named their member (skipped by
    recognition, with a warning saying so) are bound to their member on the way."""
    from consentcam.consent.keys import rotate_keys
    from consentcam.store import crypto

    new = crypto.load_keys(
        {"CONSENTCAM_TEMPLATE_KEY_FILE": str(new_key_file)}, dev=False, dev_key_path=None
    )
    report = rotate_keys(cli_ledger(state), new)
    emit(
        as_json,
        report.as_dict(),
        f"{report.templates_rewrapped} template(s) moved to key "
        f"{report.new_key_id}; now set CONSENTCAM_TEMPLATE_KEY_FILE={new_key_file}",
    )


COMMANDS = [
    init,
    site,
    camera,
    member,
    consent,
    enroll,
    identify,
    withdraw,
    erase,
    export,
    audit,
    keys,
]
