"""A camera worker's member alerts into the store, and what happens while the store is away.

An alert is written with its outbox and audit entries in one transaction. With the store
unreachable it waits in the on-disk spool (``pipeline.spool``), behind any alert spooled before
it, and a background thread tries the store once a second and writes the spool, oldest first,
when it answers; meanwhile the frame loop leaves the store alone (a silent server makes every
call wait out the connect timeout, seconds per frame). The documents the thread writes wait for
the frame loop to pass them on, and an error that is not an outage, met by the thread, is raised
in the frame loop.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from consentcam.audit import chain
from consentcam.consent.context import Ledger
from consentcam.consent.pictures import (
    has_portrait,
    keep_snapshot,
    picture_links,
    portrait_consent,
)
from consentcam.consent.purchases import purchase_summary
from consentcam.consent.visits import add_visit_template, hold_view
from consentcam.events import claims
from consentcam.events.outbox import event_document, record_event
from consentcam.pipeline.camera import CameraContext
from consentcam.pipeline.spool import AlertSpool, PendingAlert
from consentcam.store.models import Event, Member, OutboxEntry
from consentcam.store.outage import Outage
from consentcam.vision.align import picture_jpeg

ALERT_KINDS = ("recognition", "verification")
# While the store is away the frame loop leaves it alone; the retry thread tries it this often.
STORE_RETRY_S = 1.0


class AlertWriter:
    """Writes one camera's member alerts, or spools them while the store is away.

    ``outage`` is the worker's view of the store, shared with its other store calls (claims,
    footfall): any of them failing (``store_failed``) starts the retry thread. ``on_store_back``
    is called from that thread once the spool is written and the store is back. An alert spool
    left by a run that stopped during an outage is written from the start."""

    def __init__(
        self,
        ledger: Ledger,
        ctx: CameraContext,
        outage: Outage,
        *,
        keep_documents: bool = False,
        on_store_back: Callable[[], None] = lambda: None,
    ) -> None:
        self.ledger = ledger
        self.ctx = ctx
        self.outage = outage
        self._keep_documents = keep_documents
        self._on_store_back = on_store_back
        self.spool = AlertSpool(ledger.settings.data_dir / "spool" / f"{ctx.camera_id}.jsonl")
        self.spool.load()
        # Guards the choice between writing an alert and spooling it, and the retry thread's
        # decision to stop once the spool is empty: no alert overtakes one spooled before it.
        self._lock = threading.Lock()
        # The thread writing the spool while it holds anything (None: the frame loop writes).
        self._retrying: tuple[threading.Thread, threading.Event] | None = None
        self._written: list[dict[str, Any]] = []  # by the retry thread, for the frame loop
        self._retry_error: Exception | None = None  # not an outage: raised in the frame loop
        self.count = 0  # alerts written
        self.documents: list[dict[str, Any]] = []  # with keep_documents, for reports only
        if len(self.spool):  # left by a run that stopped during an outage
            with self._lock:
                self._start_retrying()

    def send(
        self,
        alert: PendingAlert,
        view: np.ndarray | None = None,
        snapshot: np.ndarray | None = None,
    ) -> dict[str, Any] | None:
        """Write the alert now, or spool it behind the alerts already waiting or when the store
        fails; its document if written now. ``view`` (the track's fused face) and ``snapshot``
        (its best picture) go with an alert written now, never into the spool's file."""
        with self._lock:
            queued = self._retrying is not None
            if queued:
                self.spool.put(alert)
        if queued:
            return None
        try:
            return self.write(alert, view, snapshot)
        except SQLAlchemyError as exc:
            self.spool.put(alert)
            self.store_failed(exc)
            return None

    def write(
        self,
        alert: PendingAlert,
        view: np.ndarray | None = None,
        snapshot: np.ndarray | None = None,
    ) -> dict[str, Any] | None:
        """Write the member's event with its outbox and audit entries in one transaction; its
        document, or None if it was written before, is a duplicate of another worker's alert
        within the cooldown, or the member is gone."""
        ctx = self.ctx
        with self.ledger.store.transaction() as s:
            if s.get(Event, alert.event_id) is not None:
                return None  # written before the connection dropped: at least once, not twice
            if alert.claim_id is not None:
                claims.resolve_claim(s, alert.claim_id, claims.VERIFIED, alert.at)
            if alert.claim_id is None and self._recent_alert(s, alert.member_id, alert.at):
                return None
            member = s.get(Member, alert.member_id)
            if member is None:  # withdrawn and erased since the gallery's last refresh
                return None
            member.last_interaction_at = alert.at
            door = ctx.mode == "door"
            # Pictures for staff to check the alert with, only where the member consented.
            pictures = door and portrait_consent(s, member) is not None
            payload = {
                "camera": ctx.camera,
                "site": ctx.site,
                "mode": ctx.mode,
                "member": {"id": member.id, "name": member.name, "profile": member.profile},
                "distance": alert.distance,
                "threshold": alert.threshold,
                "frames": alert.frames,
                "purchases": purchase_summary(s, member.id, alert.at),
                # Door mode (docs/architecture.md, camera modes): nothing beyond a greeting
                # until staff confirm.
                "allowed_actions": ["greet"] if door else ["greet", "assist"],
                "confirmation": "required" if door else "not_required",
                # Links, never images: they need the caller's credentials (streams, webhooks).
                "pictures": picture_links(
                    member.id,
                    alert.event_id,
                    portrait=pictures and has_portrait(s, member.id),
                    snapshot=pictures and snapshot is not None,
                ),
            }
            event = record_event(
                s,
                tenant_id=ctx.tenant_id,
                site_id=ctx.site_id,
                camera_id=ctx.camera_id,
                member_id=member.id,
                kind=alert.kind,
                payload=payload,
                at=alert.at,
                status="pending" if door else None,
                event_id=alert.event_id,
            )
            chain.append(
                s,
                actor=f"camera:{ctx.camera}",
                action=f"{alert.kind}.alert",
                subject=member.id,
                details={
                    "event_id": event.id,
                    "camera": ctx.camera,
                    "distance": alert.distance,
                    "threshold": alert.threshold,
                    "profile_shown": True,
                    "snapshot_kept": pictures and snapshot is not None,
                },
                tenant_id=ctx.tenant_id,
            )
            s.flush()
            if pictures and snapshot is not None:
                keep_snapshot(s, self.ledger.keys, member, event.id, picture_jpeg(snapshot))
            if view is not None and door:
                hold_view(s, self.ledger.keys, event, view, {"views": alert.frames})
            elif view is not None and alert.claim_id is not None:
                add_visit_template(
                    s, self.ledger.keys, member, view, event_id=event.id,
                    actor=f"camera:{ctx.camera}",
                )  # fmt: skip
            document = event_document(_outbox_seq(s, event.id), event)
        self.count += 1
        if self._keep_documents:
            self.documents.append(document)
        return document

    def _recent_alert(self, s: Session, member_id: str, at: dt.datetime) -> bool:
        """Whether another worker of the site alerted for the member within the cooldown of
        ``at``, before or after it. Bounded on both sides: an alert written late (from the
        spool, after an outage) is a duplicate only of alerts of the same visit, not of every
        alert since."""
        cooldown = dt.timedelta(seconds=self.ctx.pipeline.cooldown_s)
        recent = s.execute(
            select(Event.id)
            .where(
                Event.site_id == self.ctx.site_id,
                Event.member_id == member_id,
                Event.kind.in_(ALERT_KINDS),
                Event.at >= at - cooldown,
                Event.at <= at + cooldown,
            )
            .limit(1)
        ).first()
        return recent is not None

    # -- the store away ------------------------------------------------------------------------

    def store_failed(self, error: SQLAlchemyError) -> None:
        """A store call from the frame loop failed: until the store is back the frame loop
        spools alerts, holds footfall and keeps the claims it has without calling the store
        (a silent server makes each call wait out the connect timeout), and the retry thread
        tries it once a second."""
        self.outage.failed(error)
        with self._lock:
            if self._retrying is None:
                self._start_retrying()

    def written_meanwhile(self) -> list[dict[str, Any]]:
        """The documents of the alerts the retry thread wrote since the last call, for the frame
        loop to pass on; raises the error that stopped the thread, if one did."""
        with self._lock:
            written, self._written = self._written, []
            error, self._retry_error = self._retry_error, None
        if error is not None:
            raise error
        return written

    def finish(self) -> None:
        """Stop the retry thread, and make one last try at writing the spool if the store is
        away or the spool holds anything (what it cannot take stays in the spool's file)."""
        self._stop_retrying()
        if self.outage.down or len(self.spool):
            self._spool_written()

    def _start_retrying(self) -> None:
        """Start the retry thread (with ``_lock`` held)."""
        stop = threading.Event()
        thread = threading.Thread(
            target=self._retry_until_written,
            args=(stop,),
            name=f"store-retry-{self.ctx.camera}",
            daemon=True,
        )
        self._retrying = (thread, stop)
        thread.start()

    def _retry_until_written(self, stop: threading.Event) -> None:
        try:
            while not stop.wait(STORE_RETRY_S):
                if self._spool_written():
                    return
        except Exception as exc:
            # A bug rather than an outage: it stops the worker from the frame loop, as it would
            # have there, instead of ending this thread unseen with alerts queued behind it.
            with self._lock:
                self._retry_error = exc

    def _stop_retrying(self) -> None:
        with self._lock:
            retrying = self._retrying
        if retrying is not None:
            thread, stop = retrying
            stop.set()
            thread.join()
            with self._lock:
                self._retrying = None

    def _spool_written(self) -> bool:
        """One try at ending an outage: the store answers and the spooled alerts are written,
        oldest first; once the spool is empty the frame loop writes again (decided under the
        lock that new alerts take to join the spool). False if the store is still away."""
        try:
            with self.ledger.store.transaction() as s:
                s.execute(select(1))  # an answer, even with nothing spooled
            while True:
                self._write_spooled()
                with self._lock:
                    if not len(self.spool):
                        self._retrying = None
                        self.outage.succeeded()
                        break
        except SQLAlchemyError as exc:
            self.outage.failed(exc)
            return False
        self._on_store_back()
        return True

    def _write_spooled(self) -> None:
        """Write the spooled alerts, oldest first; each leaves the spool once written, and its
        document waits for the frame loop to pass it on (``written_meanwhile``)."""
        for alert in self.spool.pending():
            document = self.write(alert)
            self.spool.done(alert.event_id)
            if document is not None:
                with self._lock:
                    self._written.append(document)


def _outbox_seq(s: Session, event_id: str) -> int:
    return int(
        s.execute(select(OutboxEntry.seq).where(OutboxEntry.event_id == event_id)).scalar_one()
    )
