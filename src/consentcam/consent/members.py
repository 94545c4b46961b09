"""Members: their record (name and profile, bounded and checked) and its rectification, which
reaches the member cards stored in their events.

Every action runs in one transaction together with its audit entry.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from consentcam.audit import chain
from consentcam.consent.context import Ledger, member_by_id, site_by_name
from consentcam.consent.names import check_name, hidden_character
from consentcam.errors import InputError, shown
from consentcam.store.db import forget_deleted
from consentcam.store.models import Event, Member, new_id

# A member profile is free membership fields shown on the member card and in every alert: a
# tier, a member number, a short note. Bounded so a kiosk token cannot fill the store or make
# each card megabytes (issue 13: 5 x 2 MB values grew a card to 10.5 MB).
MAX_PROFILE_FIELDS = 50
MAX_PROFILE_KEY_CHARS = 64
MAX_PROFILE_VALUE_CHARS = 1000  # a string's length; other values' length as JSON
MAX_PROFILE_BYTES = 16_384  # the whole profile as UTF-8 JSON


def add_member(
    ledger: Ledger, site_name: str, name: str, profile_fields: dict[str, Any] | None = None
) -> Member:
    check_name(name, "member name")
    _check_profile(profile_fields or {})
    with ledger.store.transaction() as s:
        site = site_by_name(s, site_name, ledger.tenant_id(s))
        member = Member(  # its id set here, so that its audit entry names it
            id=new_id(),
            tenant_id=site.tenant_id,
            site_id=site.id,
            name=name,
            profile=profile_fields or {},
        )
        chain.add_audited(
            s,
            member,
            actor=ledger.actor,
            action="member.add",
            subject=member.id,
            details={"site": site.name},
            tenant_id=site.tenant_id,
        )
        return member


def rectify_member(
    ledger: Ledger,
    member_id: str,
    *,
    name: str | None = None,
    profile_fields: dict[str, Any] | None = None,
) -> Member:
    """Correct a member's name or replace their profile (data-subject rectification). The
    audit entry names the fields changed, never their old or new values."""
    if name is None and profile_fields is None:
        raise InputError("nothing to rectify: give a new name or a new profile")
    if name is not None:
        check_name(name, "member name")
    if profile_fields is not None:
        _check_profile(profile_fields)
    with ledger.store.transaction() as s:
        member = member_by_id(s, member_id, ledger.tenant_id(s))
        changed = []
        if name is not None and name != member.name:
            member.name = name
            changed.append("name")
        if profile_fields is not None and profile_fields != member.profile:
            member.profile = profile_fields
            changed.append("profile")
        details: dict[str, Any] = {"fields": changed}
        # Alerts keep the member card staff saw; the corrected record replaces it there too
        # (issue 13, item 8), so no history, stream or delivery still due shows the old one.
        corrected = rewrite_member_cards(s, member) if changed else 0
        if corrected:
            details["events"] = corrected
        chain.append(
            s,
            actor=ledger.actor,
            action="member.rectify",
            subject=member.id,
            details=details,
            tenant_id=member.tenant_id,
        )
    if changed:
        forget_deleted(ledger.store)  # the old values' page images leave SQLite's log now
    return member


def rewrite_member_cards(s: Session, member: Member) -> int:
    """Put the member's current name and profile into the member card of each of their stored
    events (an alert carries the card staff are shown); returns how many events changed.

    Called in a rectification's transaction (issue 13, item 8). Rewriting the stored copies,
    rather than looking the member up whenever events are read, keeps every reader as it is
    (the event history, the live stream's replay, webhook deliveries, whose body is built when
    sent, all read the stored payload) and leaves no old copy in the database; a rectification
    is rare and touches only that member's events, within their retention."""
    changed = 0
    for event in s.execute(select(Event).where(Event.member_id == member.id)).scalars():
        card = event.payload.get("member")
        if not isinstance(card, Mapping) or card.get("id") != member.id:
            continue
        current = {**card, "name": member.name, "profile": member.profile}
        if current != card:
            # A new dict, so the JSON column is written (in-place changes are not tracked).
            event.payload = {**event.payload, "member": current}
            changed += 1
    return changed


def _check_profile(fields: dict[str, Any]) -> None:
    # Stored as JSON and shown on the member card: what cannot be written as UTF-8 JSON (an
    # unpaired surrogate, an object) would be stored and then fail every read.
    try:
        size = len(json.dumps(fields, ensure_ascii=False).encode())
    except (TypeError, ValueError) as exc:
        raise InputError(f"member profile is not storable as JSON text ({exc})") from None
    # Bounds (no value is repeated in the messages): checked before anything is stored.
    if len(fields) > MAX_PROFILE_FIELDS:
        raise InputError(
            f"a member profile has at most {MAX_PROFILE_FIELDS} fields, not {len(fields)}"
        )
    for key, value in fields.items():
        if not 1 <= len(key) <= MAX_PROFILE_KEY_CHARS or hidden_character(key) is not None:
            raise InputError(
                f"a member profile field name is 1-{MAX_PROFILE_KEY_CHARS} printable characters"
            )
        length = len(value) if isinstance(value, str) else len(json.dumps(value))
        if length > MAX_PROFILE_VALUE_CHARS:
            raise InputError(
                f"a member profile value is at most {MAX_PROFILE_VALUE_CHARS} characters "
                f"(field {shown(key, 20)} has {length})"
            )
    if size > MAX_PROFILE_BYTES:
        raise InputError(
            f"a member profile is at most {MAX_PROFILE_BYTES} bytes as JSON, not {size}"
        )
