"""Signed webhooks: registration, signing, and at-least-once delivery from the outbox.

Each request body is the event's JSON document (``outbox.event_document``), signed with the
webhook's own secret::

    Consentcam-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>

A receiver checks it with ``verify_signature`` (or the same three lines in its own language) and
rejects stale timestamps, so a captured request cannot be replayed later. Secrets are generated
here, shown once, and stored sealed under the store key (AES-GCM bound to the webhook's id).

Delivery claims due rows in one short transaction, sends outside any transaction (a slow receiver
must never hold the store), then records each outcome in its own transaction. A failed attempt is
retried after ``min(backoff * 2**(attempts-1), backoff_max)`` seconds with +-20% jitter, and the
delivery is marked failed after ``webhook_max_attempts``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import logging
import random
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from consentcam import __version__
from consentcam.audit import chain
from consentcam.config import EventSettings
from consentcam.consent.context import Ledger, site_by_name
from consentcam.errors import InputError, NotFound, PolicyError
from consentcam.events.destinations import (
    HTTPS_ONLY,
    DestinationPolicy,
    RefusedDestination,
    UnresolvedDestination,
    destination_policy,
    refusal,
    webhook_client,
)
from consentcam.events.outbox import event_document
from consentcam.net import InvalidHost, literal_address
from consentcam.store import crypto
from consentcam.store.models import Delivery, Event, OutboxEntry, Site, Webhook, new_id, utcnow

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "Consentcam-Signature"
EVENT_ID_HEADER = "Consentcam-Event-Id"
ATTEMPT_HEADER = "Consentcam-Delivery-Attempt"
SIGNATURE_TOLERANCE_S = 300
SECRET_PREFIX = "whsec_"  # a recognisable prefix lets secret scanners find a leaked secret
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
MAX_URL_LENGTH = 2000
# Claimed rows are leased for the time their sends may take plus this margin, so a second
# deliverer (the supervisor beside a manual `consentcam deliver`) does not send them twice.
LEASE_SLACK_S = 30.0


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``"<timestamp>." + body`` under ``secret``."""
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: bytes, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def verify_signature(
    secret: bytes,
    header: str,
    body: bytes,
    now: float,
    tolerance_s: float = SIGNATURE_TOLERANCE_S,
) -> bool:
    """True if ``header`` signs ``body`` with ``secret`` at a time within ``tolerance_s`` of
    ``now`` (unix seconds). For receivers; compares in constant time; never raises on a
    malformed header."""
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isascii() and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or abs(now - timestamp) > tolerance_s:
        return False
    expected = signature(secret, timestamp, body)
    # Every candidate is compared, so timing does not reveal which one matched; bytes, because
    # compare_digest refuses non-ASCII text and a malformed header must not raise.
    matches = [hmac.compare_digest(expected.encode(), c.encode()) for c in candidates]
    return any(matches)


def open_secret(keys: crypto.TemplateKeys, webhook: Webhook) -> bytes:
    """The webhook's signing secret; ConfigError if the loaded key cannot open it."""
    aad = crypto.secret_aad(webhook.tenant_id, webhook.id)
    return crypto.open_bytes(keys, webhook.secret_sealed, aad, f"webhook {webhook.id}: its secret")


@dataclass(frozen=True, slots=True)
class WebhookInfo:
    id: str
    url: str
    site: str | None  # None: every site of the tenant
    active: bool
    created_at: dt.datetime
    deliveries: dict[str, int]  # count per status

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "created_at": self.created_at.isoformat()}


def add_webhook(ledger: Ledger, url: str, site_name: str | None = None) -> tuple[Webhook, str]:
    """Register an endpoint for the events of one site (or all sites when ``site_name`` is None).
    Returns the webhook and its signing secret: shown once, never stored in the clear. The
    whole secret string (prefix included, UTF-8) is the HMAC key receivers verify with."""
    _check_url(url, destination_policy(ledger.settings))
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    with ledger.store.transaction() as s:
        tenant_id = ledger.tenant_id(s)
        site = site_by_name(s, site_name, tenant_id) if site_name is not None else None
        webhook_id = new_id()
        webhook = Webhook(
            id=webhook_id,
            tenant_id=tenant_id,
            site_id=site.id if site else None,
            url=url,
            secret_sealed=crypto.seal_bytes(
                ledger.keys, secret.encode(), crypto.secret_aad(tenant_id, webhook_id)
            ),
            key_id=ledger.keys.key_id,
            active=True,
            created_at=utcnow(),
        )
        chain.add_audited(
            s,
            webhook,
            actor=ledger.actor,
            action="webhook.add",
            subject=webhook_id,
            details={"origin": _origin(url), "site": site_name},
            tenant_id=tenant_id,
        )
    return webhook, secret


def list_webhooks(ledger: Ledger) -> list[WebhookInfo]:
    """The ledger's tenant's webhooks, oldest first."""
    with ledger.store.transaction() as s:
        hooks = s.execute(
            select(Webhook)
            .where(Webhook.tenant_id == ledger.tenant_id(s))
            .order_by(Webhook.created_at, Webhook.id)
        ).scalars()
        return [_info(s, w) for w in hooks]


def remove_webhook(ledger: Ledger, webhook_id: str) -> WebhookInfo:
    """Delete a webhook, its sealed secret and its deliveries (pending ones are dropped)."""
    with ledger.store.transaction() as s:
        webhook = s.get(Webhook, webhook_id)
        if webhook is None or webhook.tenant_id != ledger.tenant_id(s):
            raise NotFound(f"no webhook {webhook_id!r} (see 'consentcam webhook list')")
        info = _info(s, webhook)
        s.execute(delete(Delivery).where(Delivery.webhook_id == webhook.id))
        s.delete(webhook)
        s.flush()
        chain.append(
            s,
            actor=ledger.actor,
            action="webhook.remove",
            subject=webhook.id,
            details={"origin": _origin(webhook.url), "dropped": info.deliveries.get(PENDING, 0)},
            tenant_id=webhook.tenant_id,
        )
    return info


def _info(s: Session, webhook: Webhook) -> WebhookInfo:
    site = s.get(Site, webhook.site_id) if webhook.site_id else None
    counts = s.execute(
        select(Delivery.status, func.count())
        .where(Delivery.webhook_id == webhook.id)
        .group_by(Delivery.status)
    )
    return WebhookInfo(
        id=webhook.id,
        url=webhook.url,
        site=site.name if site else None,
        active=webhook.active,
        created_at=webhook.created_at,
        deliveries={PENDING: 0, DELIVERED: 0, FAILED: 0, **dict(counts.all())},
    )


def _check_url(url: str, policy: DestinationPolicy) -> None:
    if len(url) > MAX_URL_LENGTH:
        raise InputError(f"webhook URL is longer than {MAX_URL_LENGTH} characters")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, UnicodeError) as exc:  # UnicodeError: an unpaired surrogate
        raise InputError(f"webhook URL {url!r} is not a valid URL ({exc})") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InputError(f"webhook URL {url!r} must be http:// or https:// with a host")
    if parsed.userinfo:
        # The URL is listed and its origin audited; the request signature is the credential.
        raise InputError("webhook URL must not hold a user name or password")
    # An address is checked now; a name on every delivery, where and when it resolves. Only a
    # name inside an allowed network may be reached over http, so without any, http is refused.
    # A name that can only be loopback or nothing is decided now, never handed to a resolver.
    try:
        address = literal_address(parsed.raw_host.decode("ascii"))
    except InvalidHost as exc:
        raise InputError(f"webhook URL host: {exc}") from None
    if address is not None:
        reason = refusal(policy, address, parsed.scheme)
    elif parsed.scheme != "https" and not policy.dev and not policy.allowed:
        reason = HTTPS_ONLY
    else:
        reason = None
    if reason is not None:
        raise PolicyError(f"webhook URL {_origin(url)}: {reason}")


def _origin(url: str) -> str:
    # Audit entries are permanent: paths and queries of hook URLs often hold tokens.
    parsed = httpx.URL(url)
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host}{port}"


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    attempted: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True, repr=False)  # repr=False: the secret stays out of logs
class _Job:
    delivery_id: int
    webhook_id: str
    url: str
    secret: bytes
    event_id: str
    attempt: int
    body: bytes


def retry_delay(attempts: int, settings: EventSettings, rng: random.Random) -> dt.timedelta:
    """Wait after the ``attempts``-th failure: doubling from the base, capped, +-20% jitter so
    deliveries failed together do not retry together."""
    base = min(settings.webhook_backoff_s * 2.0 ** (attempts - 1), settings.webhook_backoff_max_s)
    return dt.timedelta(seconds=base * rng.uniform(0.8, 1.2))


def deliver_due(
    ledger: Ledger,
    client: httpx.Client,
    now: dt.datetime | None = None,
    limit: int = 100,
    *,
    rng: random.Random | None = None,
) -> DeliveryReport:
    """Send every pending delivery due now (at most ``limit``) and record the outcomes.

    ``now`` fixes the clock for the whole call (tests drive it); left out, the wall clock is read
    at each step, so a long batch neither signs with a stale timestamp nor backdates outcomes."""
    clock: Callable[[], dt.datetime] = utcnow if now is None else (lambda: now)
    rng = rng or random.Random()
    outcomes: dict[str, int] = {DELIVERED: 0, PENDING: 0, FAILED: 0}
    jobs = _claim(ledger, clock(), limit)
    for job in jobs:
        error = _send(client, job, clock(), ledger.settings.events.webhook_timeout_s).error
        status = _record(ledger, job, error, clock(), rng)
        if status in outcomes:
            outcomes[status] += 1
    return DeliveryReport(len(jobs), outcomes[DELIVERED], outcomes[PENDING], outcomes[FAILED])


def _claim(ledger: Ledger, now: dt.datetime, limit: int) -> list[_Job]:
    timeout = ledger.settings.events.webhook_timeout_s
    with ledger.store.transaction() as s:
        rows = s.execute(
            select(Delivery, Webhook, OutboxEntry.seq, Event)
            .join(Webhook, Webhook.id == Delivery.webhook_id)
            .join(OutboxEntry, OutboxEntry.seq == Delivery.outbox_seq)
            .join(Event, Event.id == OutboxEntry.event_id)
            .where(
                Delivery.status == PENDING,
                Delivery.next_attempt_at <= now,
                Webhook.active.is_(True),
            )
            .order_by(Delivery.next_attempt_at, Delivery.id)
            .limit(limit)
            # PostgreSQL: concurrent deliverers take disjoint rows (SQLite has one writer).
            .with_for_update(of=Delivery, skip_locked=True)
        )
        jobs: list[_Job] = []
        opened: dict[str, bytes] = {}
        for i, (delivery, webhook, seq, event) in enumerate(rows.all()):
            if webhook.id not in opened:
                opened[webhook.id] = open_secret(ledger.keys, webhook)
            lease = dt.timedelta(seconds=timeout * (i + 1) + LEASE_SLACK_S)
            delivery.next_attempt_at = now + lease
            body = json.dumps(event_document(seq, event), separators=(",", ":")).encode()
            jobs.append(
                _Job(
                    delivery.id,
                    webhook.id,
                    webhook.url,
                    opened[webhook.id],
                    event.id,
                    delivery.attempts + 1,
                    body,
                )
            )
    return jobs


@dataclass(frozen=True, slots=True)
class Attempt:
    """One request's outcome: the receiver's HTTP status (None when none came back), the short
    reason a delivery records (None when accepted), and the same in words for people."""

    status_code: int | None
    error: str | None
    detail: str


# What the short reasons ``_send`` records mean, for the people who read them (the dashboard,
# the test send). The stored reason stays short: the column is narrow and entries are permanent.
_ERROR_WORDS = {
    "ConnectError": "could not connect to the receiver (nothing listening there, or the "
    "network refused the connection)",
    "ConnectTimeout": "the receiver did not accept the connection in time",
    "ReadTimeout": "the receiver did not answer in time",
    "WriteTimeout": "the request could not be sent in time",
    "PoolTimeout": "no connection was free in time",
    "RemoteProtocolError": "the receiver closed the connection or did not answer in HTTP",
    "RefusedDestination": "the receiver's address is not one events may be sent to (the "
    "address policy; the server log names the address and the rule)",
    "UnresolvedDestination": "the receiver's host name does not resolve",
    "InvalidURL": "the webhook URL is not valid",
}


def error_words(error: str | None) -> str | None:
    """A recorded delivery reason (``"HTTP 500"``, ``"ConnectError"``) in words; None for
    None."""
    if error is None:
        return None
    if error.startswith("HTTP "):
        code = error.removeprefix("HTTP ")
        if code[:1] == "3":
            return f"the receiver answered {error}: a redirect, which is not followed"
        return f"the receiver answered {error} (only a 2xx status counts as delivered)"
    return _ERROR_WORDS.get(error, f"the request failed ({error})")


def _send(client: httpx.Client, job: _Job, now: dt.datetime, timeout_s: float) -> Attempt:
    """Post one job, signed as of ``now``; the outcome (never the receiver's body)."""
    timestamp = int(now.timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"consentcam-webhooks/{__version__}",
        SIGNATURE_HEADER: signature_header(job.secret, timestamp, job.body),
        EVENT_ID_HEADER: job.event_id,
        ATTEMPT_HEADER: str(job.attempt),
    }
    try:
        # Streamed and closed unread: only the status matters, whatever size the body is.
        # Redirects are not followed (httpx's default), so a 3xx counts as a failure.
        with client.stream(
            "POST", job.url, content=job.body, headers=headers, timeout=timeout_s
        ) as response:
            status = response.status_code
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        code = type(exc).__name__
        if isinstance(exc, RefusedDestination | UnresolvedDestination):
            if isinstance(exc, RefusedDestination):  # the operator needs the address and rule
                log.warning("webhook %s: not sent: %s", job.webhook_id, exc)
            return Attempt(None, code, str(exc))  # our own words, naming the host (and rule)
        return Attempt(None, code, error_words(code) or code)
    if 200 <= status < 300:
        return Attempt(status, None, f"delivered: the receiver answered HTTP {status}")
    error = f"HTTP {status}"
    return Attempt(status, error, error_words(error) or error)


def _record(
    ledger: Ledger, job: _Job, error: str | None, now: dt.datetime, rng: random.Random
) -> str | None:
    """Store one attempt's outcome; the delivery's new status, or None if it is gone (its
    webhook or event was removed meanwhile)."""
    settings = ledger.settings.events
    with ledger.store.transaction() as s:
        delivery = s.get(Delivery, job.delivery_id)
        if delivery is None or delivery.status != PENDING:
            return None
        delivery.attempts += 1
        delivery.last_error = error
        if error is None:
            delivery.status = DELIVERED
            delivery.delivered_at = now
        elif delivery.attempts >= settings.webhook_max_attempts:
            delivery.status = FAILED
            log.warning(
                "webhook %s: delivery %d failed for good after %d attempts (%s)",
                job.webhook_id,
                job.delivery_id,
                delivery.attempts,
                error,
            )
        else:
            delivery.next_attempt_at = now + retry_delay(delivery.attempts, settings, rng)
        return delivery.status


def deliver_forever(
    ledger: Ledger,
    stop: threading.Event,
    interval_s: float,
    *,
    client: httpx.Client | None = None,
    on_report: Callable[[DeliveryReport], None] | None = None,
    limit: int = 100,
) -> None:
    """Deliver until ``stop`` is set: a full batch goes straight on to the next, otherwise
    waits ``interval_s``. For the supervisor and ``consentcam deliver --follow``."""
    own_client = client is None
    http = client or webhook_client(ledger.settings)
    try:
        while not stop.is_set():
            try:
                report = deliver_due(ledger, http, limit=limit)
            except Exception:
                # A store outage or a bad row must not end delivery for good: log, wait, retry.
                log.exception("webhook delivery round failed; retrying in %.1f s", interval_s)
                report = DeliveryReport()
            if report.attempted and on_report is not None:
                on_report(report)
            if report.attempted < limit:
                stop.wait(interval_s)
    finally:
        if own_client:
            http.close()


TEST_KIND = "webhook.test"


@dataclass(frozen=True, slots=True)
class TestDelivery:
    """What a test send did. It goes through the delivery code with the webhook's own secret,
    but is not an outbox event: it is neither retried nor listed among the deliveries, and the
    audit log records that it was sent and how it went."""

    __test__ = False  # not a pytest test class, whatever its name

    webhook_id: str
    event_id: str
    at: dt.datetime
    delivered: bool
    status_code: int | None
    error: str | None
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "at": self.at.isoformat()}


def send_test(ledger: Ledger, webhook_id: str, client: httpx.Client) -> TestDelivery:
    """Send one signed test event (kind ``webhook.test``, no member, no face data) to the
    webhook now, as a delivery is sent, and return the receiver's answer or why there was none.
    Audited, with the outcome."""
    with ledger.store.transaction() as s:
        webhook = s.get(Webhook, webhook_id)
        if webhook is None or webhook.tenant_id != ledger.tenant_id(s):
            raise NotFound(f"no webhook {webhook_id!r} (see 'consentcam webhook list')")
        secret = open_secret(ledger.keys, webhook)
        url, site_id, tenant_id = webhook.url, webhook.site_id, webhook.tenant_id
    now = utcnow()
    event_id = f"test-{new_id()}"
    document = {
        "seq": 0,  # outbox seqs start at 1: a receiver can tell a test from a real event
        "id": event_id,
        "kind": TEST_KIND,
        "at": now.isoformat(),
        "site_id": site_id,
        "camera_id": None,
        "member_id": None,
        "status": None,
        "payload": {"test": True, "message": "A test event sent from consentcam."},
    }
    body = json.dumps(document, separators=(",", ":")).encode()
    job = _Job(0, webhook_id, url, secret, event_id, 1, body)
    # Sent outside any transaction, as deliveries are: a slow receiver must not hold the store.
    attempt = _send(client, job, now, ledger.settings.events.webhook_timeout_s)
    with ledger.store.transaction() as s:
        chain.append(
            s,
            actor=ledger.actor,
            action="webhook.test",
            subject=webhook_id,
            details={
                "origin": _origin(url),
                "status_code": attempt.status_code,
                "error": attempt.error,
            },
            tenant_id=tenant_id,
        )
    return TestDelivery(
        webhook_id,
        event_id,
        now,
        attempt.error is None,
        attempt.status_code,
        attempt.error,
        attempt.detail,
    )


@dataclass(frozen=True, slots=True)
class DeliveryInfo:
    """One event's delivery to one webhook, as the store keeps it. The store records the
    attempts made, the last attempt's reason and, while pending, when the next is due; not the
    time of each failed attempt."""

    id: int
    event_id: str
    event_kind: str
    event_at: dt.datetime
    seq: int
    status: str
    attempts: int
    last_error: str | None
    last_error_words: str | None
    next_attempt_at: dt.datetime | None  # pending only
    delivered_at: dt.datetime | None

    def as_dict(self) -> dict[str, Any]:
        times = ("event_at", "next_attempt_at", "delivered_at")
        d = dataclasses.asdict(self)
        return {k: (v.isoformat() if k in times and v is not None else v) for k, v in d.items()}


def list_deliveries(
    ledger: Ledger, webhook_id: str, *, failures: bool = False, limit: int = 20
) -> list[DeliveryInfo]:
    """The webhook's latest deliveries, newest event first (at most ``limit``); with
    ``failures``, only those whose last attempt failed: failed for good, or waiting to retry."""
    with ledger.store.transaction() as s:
        webhook = s.get(Webhook, webhook_id)
        if webhook is None or webhook.tenant_id != ledger.tenant_id(s):
            raise NotFound(f"no webhook {webhook_id!r} (see 'consentcam webhook list')")
        query = (
            select(Delivery, Event.kind, Event.at)
            .join(OutboxEntry, OutboxEntry.seq == Delivery.outbox_seq)
            .join(Event, Event.id == OutboxEntry.event_id)
            .add_columns(OutboxEntry.event_id)
            .where(Delivery.webhook_id == webhook.id)
            .order_by(Delivery.outbox_seq.desc(), Delivery.id.desc())
            .limit(limit)
        )
        if failures:
            query = query.where(
                (Delivery.status == FAILED)
                | ((Delivery.status == PENDING) & Delivery.last_error.is_not(None))
            )
        return [
            DeliveryInfo(
                id=d.id,
                event_id=event_id,
                event_kind=kind,
                event_at=at,
                seq=d.outbox_seq,
                status=d.status,
                attempts=d.attempts,
                last_error=d.last_error,
                last_error_words=error_words(d.last_error),
                next_attempt_at=d.next_attempt_at if d.status == PENDING else None,
                delivered_at=d.delivered_at,
            )
            for d, kind, at, event_id in s.execute(query).all()
        ]
