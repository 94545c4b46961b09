"""The transactional outbox: an event, its outbox entry and its webhook deliveries are written in
the caller's transaction, so an event is published if and only if it is stored.

The outbox ``seq`` is the stream's event id (server-sent events resume from it) and orders
webhook deliveries. Payloads are built by the caller and checked here: an event never carries
biometric data (privacy invariant 2).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, or_, select, text
from sqlalchemy.orm import Session

from consentcam.errors import InputError, PolicyError
from consentcam.store.models import Delivery, Event, OutboxEntry, Webhook, utcnow

# An embedding is a long run of floats; short float lists (a box, a few scores) are fine.
MAX_FLOAT_LIST = 16
# Kinds appear on the SSE ``event:`` line, so they must be one short printable token.
_KIND = re.compile(r"^[a-z][a-z0-9_.-]{0,39}$")
# The audit chain's advisory lock (consentcam.audit.chain). Taking the same lock keeps outbox
# sequence numbers in commit order on PostgreSQL (a reader never sees seq N+1 before N commits,
# which would make it skip N for good); one lock for both means no lock-order deadlock when the
# caller also appends an audit entry in the transaction.
_SERIAL_LOCK = 727001


def check_payload(payload: Mapping[str, Any]) -> None:
    """PolicyError unless ``payload`` is plain JSON without anything that could be a face
    template: no arrays (numpy or otherwise), no bytes, no list of more than
    ``MAX_FLOAT_LIST`` floats. A guard against an embedding slipping into an event."""
    if not isinstance(payload, Mapping):
        raise InputError(f"an event payload must be a mapping, got {type(payload).__name__}")
    _check_value(payload, "payload")


def _check_value(value: Any, where: str) -> None:
    if isinstance(value, bytes | bytearray | memoryview):
        raise PolicyError(f"event {where} holds bytes; events carry no biometric data")
    if isinstance(value, bool | str | int | type(None)) or type(value) is float:
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InputError(f"event {where} has a non-string key {key!r}")
            _check_value(item, f"{where}.{key}")
        return
    if isinstance(value, list | tuple):
        floats = sum(1 for item in value if type(item) is float)
        if floats > MAX_FLOAT_LIST:
            raise PolicyError(
                f"event {where} holds a list of {floats} floats, which could be a face "
                f"template; events carry no biometric data (at most {MAX_FLOAT_LIST} floats)"
            )
        for i, item in enumerate(value):
            _check_value(item, f"{where}[{i}]")
        return
    # numpy arrays and scalars land here, as does anything else JSON cannot hold.
    raise PolicyError(
        f"event {where} holds a {type(value).__module__}.{type(value).__name__}; payloads are "
        "plain JSON values and carry no biometric data"
    )


def record_event(
    s: Session,
    *,
    tenant_id: str,
    site_id: str,
    camera_id: str | None,
    member_id: str | None,
    kind: str,
    payload: Mapping[str, Any],
    at: dt.datetime,
    status: str | None = None,
    event_id: str | None = None,
) -> Event:
    """Store an event, its outbox entry and a pending delivery for every active webhook of the
    tenant that covers the site, in the caller's transaction (the caller commits, together with
    its audit entry)."""
    if not _KIND.match(kind):
        raise InputError(f"event kind {kind!r} must be 1-40 of a-z, 0-9, '_', '.', '-'")
    if at.tzinfo is None:
        raise InputError("event time must be timezone-aware (UTC)")
    check_payload(payload)
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text(f"SELECT pg_advisory_xact_lock({_SERIAL_LOCK})"))
    event = Event(
        # A caller-chosen id makes a retried write recognisable (a worker's spooled alert).
        **({"id": event_id} if event_id else {}),
        tenant_id=tenant_id,
        site_id=site_id,
        camera_id=camera_id,
        member_id=member_id,
        kind=kind,
        at=at,
        payload=dict(payload),
        status=status,
    )
    s.add(event)
    s.flush()
    entry = OutboxEntry(event_id=event.id, site_id=site_id, created_at=utcnow())
    s.add(entry)
    s.flush()
    for webhook_id in _subscribers(s, tenant_id, site_id):
        s.add(Delivery(outbox_seq=entry.seq, webhook_id=webhook_id, next_attempt_at=utcnow()))
    s.flush()
    return event


def _subscribers(s: Session, tenant_id: str, site_id: str) -> list[str]:
    rows = s.execute(
        select(Webhook.id)
        .where(
            Webhook.tenant_id == tenant_id,
            Webhook.active.is_(True),
            or_(Webhook.site_id.is_(None), Webhook.site_id == site_id),
        )
        .order_by(Webhook.created_at, Webhook.id)
    ).scalars()
    return list(rows)


def events_after(
    s: Session, site_ids: Sequence[str] | None, after_seq: int, limit: int
) -> list[tuple[int, Event]]:
    """Up to ``limit`` events with outbox seq above ``after_seq``, in seq order; ``site_ids``
    None means every site."""
    query = (
        select(OutboxEntry.seq, Event)
        .join(Event, Event.id == OutboxEntry.event_id)
        .where(OutboxEntry.seq > after_seq)
        .order_by(OutboxEntry.seq)
        .limit(limit)
    )
    if site_ids is not None:
        query = query.where(OutboxEntry.site_id.in_(list(site_ids)))
    return [(seq, event) for seq, event in s.execute(query)]


def latest_seq(s: Session) -> int:
    """The highest outbox seq so far (0 for an empty outbox): where a new live stream starts."""
    return int(s.execute(select(func.coalesce(func.max(OutboxEntry.seq), 0))).scalar_one())


def event_document(seq: int, event: Event) -> dict[str, Any]:
    """The JSON document both the event stream and webhooks send for one event."""
    return {
        "seq": seq,
        "id": event.id,
        "kind": event.kind,
        "at": event.at.astimezone(dt.UTC).isoformat(),
        "site_id": event.site_id,
        "camera_id": event.camera_id,
        "member_id": event.member_id,
        "status": event.status,
        "payload": event.payload,
    }
