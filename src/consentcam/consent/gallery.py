"""A camera worker's in-memory gallery for one site, kept current from the store: loading a
site's gallery from the store is a service above matching, which only holds the arrays.

The gallery holds decrypted, tenant-transformed templates fused per member in a
``FusedGallery`` (``match/gallery.py``). A worker calls
``refresh()`` (or runs ``watch()``) to pick up changes: the store bumps a per-site counter in the
same transaction as any enrolment, withdrawal or consent change, so one indexed read tells
whether anything changed, and only new templates are decrypted. A consent that reaches its
expiry time forces a reload too, since expiry changes no row.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import Select, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from consentcam.consent.context import Ledger
from consentcam.consent.profiles import RECOGNITION
from consentcam.errors import InputError
from consentcam.match.gallery import (
    FusedGallery,
    Identification,
    identification_threshold,
    verification,
)
from consentcam.match.index import GalleryIndex, IndexKind
from consentcam.store import crypto
from consentcam.store.models import Consent, GalleryVersion, Member, Site, Template, utcnow
from consentcam.store.outage import Outage
from consentcam.vision.embed import EMBEDDING_SIZE

log = logging.getLogger(__name__)

QueryT = TypeVar("QueryT", bound=Select[*tuple[Any, ...]])

# Channel the migration-0002 triggers notify on PostgreSQL, with the site id as payload.
NOTIFY_CHANNEL = "consentcam_gallery"
# Sealed templates fetched per query when a gallery loads: bounded, as some drivers limit the
# number of bound parameters (SQLite: 32,766).
SEALED_PER_QUERY = 5_000
# How often the notification listener looks up from its connection to see whether to stop.
LISTEN_TICK_S = 0.25


class SiteGallery:
    def __init__(
        self,
        ledger: Ledger,
        site: Site,
        index: GalleryIndex | None = None,
        *,
        kind: IndexKind = "auto",
        exact_max: int = 200_000,
    ) -> None:
        """``index`` injects a ready index (tests, fakes); otherwise one is made at the first
        refresh, when the gallery's size is known: exact search up to ``exact_max`` members
        (one fused vector each), HNSW above (``kind`` forces either)."""
        self._ledger = ledger
        self.site_id = site.id
        self.tenant_id = site.tenant_id
        self._transform = crypto.tenant_transform(ledger.keys.key, site.tenant_id)
        # Guarded by ``_lock``; templates ``drop_withdrawn`` finds deleted stay out of it until a
        # full refresh no longer sees them.
        self._fused = FusedGallery(index, kind=kind, exact_max=exact_max)
        self._version: int | None = None
        # The site's false-alert budget (None: the model card's default) and the stricter track
        # threshold its admin applied from staff answers (None: none), read at each refresh.
        self.false_alerts_per_1000: float | None = None
        self.threshold_override: float | None = None
        self._next_expiry: dt.datetime | None = None
        self._lock = threading.Lock()
        # Shared by the watcher's threads: one warning when the store goes, one line when back.
        self._outage = Outage(log, f"gallery {site.id}", "matching continues from memory")

    @property
    def members(self) -> int:
        return self._fused.members

    def refresh(self, now: dt.datetime | None = None) -> bool:
        """Bring the gallery up to date with the store; True if anything changed.

        The index holds one fused vector per member (``fused_template`` of the member's live
        templates); a member whose templates changed is fused again from all of them, so only
        changed members' templates are decrypted."""
        now = now or utcnow()
        with self._ledger.store.transaction() as s:
            version = (
                s.execute(
                    select(GalleryVersion.version).where(GalleryVersion.site_id == self.site_id)
                ).scalar()
                or 0
            )
            expired = self._next_expiry is not None and now >= self._next_expiry
            if version == self._version and not expired:
                return False
            self.false_alerts_per_1000, self.threshold_override = s.execute(
                select(Site.false_alerts_per_1000, Site.threshold_override).where(
                    Site.id == self.site_id
                )
            ).one()
            current = self._live_templates(s, now)
            owners = {t: m for t, (m, _) in current.items()}
            with self._lock:
                changed = self._fused.changed_members(owners)
            wanted = [t for t, (m, _) in current.items() if m in changed]
            sealed = self._sealed(s, wanted)
            opened = {t: self._open(t, current[t][0], sealed[t]) for t in wanted if t in sealed}
            good = {t: v for t, v in opened.items() if v is not None}
        with self._lock:
            self._fused.ensure_index(len(set(owners.values())))
            # Decided under the lock: the notification thread may have dropped a withdrawn
            # member's templates while this read ran; those stay out (``dropped``).
            now_changed = self._fused.changed_members(owners)
            live = {t: owners[t] for t in good if t not in self._fused.dropped}
            self._fused.remove_members(changed | now_changed)
            self._fused.add_members(changed | now_changed, live, good)
            self._fused.dropped &= current.keys()  # those this read no longer saw are gone
            # A member changed meanwhile (a drop) whose templates this read did not open is
            # fused again at the next refresh.
            self._version = None if now_changed - changed else version
            expiries = [e for _, e in current.values() if e is not None]
            self._next_expiry = min(expiries) if expiries else None
        return bool(changed | now_changed)

    def drop_withdrawn(self, member_ids: Collection[str], now: dt.datetime | None = None) -> int:
        """Take out of the index, at once, the members among ``member_ids`` with a template that
        is no longer live (the store's notification names the member whose consent or templates
        changed), without waiting for the full ``refresh`` that reconciles the whole site: at
        100,000 members that takes seconds, and a withdrawn member must be unknown within two.
        A member who keeps other live templates (one aged out) comes back, fused from those, at
        the refresh the same notification asks for. Returns how many templates were dropped."""
        wanted = set(member_ids)
        with self._lock:
            held = [t for t, m in self._fused.member_of.items() if m in wanted]
        if not held:
            return 0
        with self._ledger.store.transaction() as s:
            live = set(
                s.execute(
                    live_templates(select(Template.id), self.site_id, now or utcnow()).where(
                        Template.id.in_(held)
                    )
                ).scalars()
            )
            gone = [t for t in held if t not in live]
            # Deleted rows never come back, so a refresh that read them before the withdrawal
            # must not add them again; templates merely out of force (an expiry) may return.
            existing = set(s.execute(select(Template.id).where(Template.id.in_(gone))).scalars())
        with self._lock:
            dropped = [t for t in gone if t in self._fused.member_of]
            self._fused.remove_members({self._fused.member_of[t] for t in dropped})
            self._fused.dropped.update(t for t in gone if t not in existing)
        return len(dropped)

    def identify(
        self, embedding: np.ndarray, target_fpir: float | None = None, *, views: int = 1
    ) -> Identification:
        """The member whose fused template is nearest ``embedding`` (a raw embedding from the
        vision pipeline), if within the threshold for this gallery's size; else unknown.

        One view (a still photo, one frame) is held to the model card's image threshold for
        ``target_fpir``; the fusion of several views of a track to the track threshold for the
        site's false-alert budget (measured on fused views: they are better evidence), or the
        admin's stricter override (``track_threshold``)."""
        with self._lock:
            threshold = identification_threshold(
                self._fused.members,
                views,
                target_fpir,
                self.false_alerts_per_1000,
                self.threshold_override,
            )
            if not self._fused.members:
                return Identification(None, None, threshold, 0)
            probe = crypto.protect(self._transform, embedding[None, :])[0]
            return self._fused.identify(probe, threshold)

    def member_templates(self, member_id: str, now: dt.datetime | None = None) -> np.ndarray:
        """The member's live templates at this site (tenant-transformed, as the index holds
        them), read from the store: verify mode compares a probe with these only, so a claim
        is checked against the store's current consent state, not a cached copy."""
        now = now or utcnow()
        with self._ledger.store.transaction() as s:
            rows = s.execute(
                live_templates(select(Template.id, Template.sealed), self.site_id, now).where(
                    Template.member_id == member_id
                )
            ).all()
            opened = [self._open(tid, member_id, sealed) for tid, sealed in rows]
        vectors: list[np.ndarray] = [v for v in opened if v is not None]
        return np.stack(vectors) if vectors else np.zeros((0, EMBEDDING_SIZE), np.float32)

    def _open(self, template_id: str, member_id: str, sealed: bytes) -> np.ndarray | None:
        """A template's vector, or None (logged) if it fails authentication: altered, moved to
        another member or row, or sealed under another key. One bad row must not stop the
        site's recognition, and it must never match anyone."""
        aad = crypto.template_aad(self.tenant_id, template_id, member_id)
        if crypto.sealed_key_id(sealed) != self._ledger.keys.key_id:
            # The wrong key loaded is the operator's error, for every row: say so loudly.
            return crypto.open_sealed(self._ledger.keys, sealed, aad)
        try:
            return crypto.open_sealed(self._ledger.keys, sealed, aad)
        except InputError as exc:
            log.warning(
                "template %s skipped: %s%s", template_id, exc, self._unbound(template_id, sealed)
            )
            return None

    def _unbound(self, template_id: str, sealed: bytes) -> str:
        """A hint when the seal predates member binding (an upgraded store): such a template is
        never used until 'consentcam keys rotate' binds it to its member."""
        try:
            crypto.open_sealed(
                self._ledger.keys, sealed, crypto.unbound_template_aad(self.tenant_id, template_id)
            )
        except InputError:
            return ""
        return (
            "; it was sealed before templates were bound to their member: run "
            "'consentcam keys rotate' once to bind every such template"
        )

    def verify(
        self, embedding: np.ndarray, member_id: str, templates: np.ndarray
    ) -> Identification:
        """1:1 check of a raw embedding against one member's ``member_templates``: a match at
        the model card's verification threshold (the claim narrows the search to one person,
        so no gallery-size correction applies)."""
        if not len(templates):
            return verification(embedding, member_id, templates)  # unknown: nothing to compare
        probe = crypto.protect(self._transform, embedding[None, :])[0]
        return verification(probe, member_id, templates)

    @contextmanager
    def watch(self, interval_s: float = 0.25) -> Iterator[SiteGallery]:
        """Keep the gallery current from background threads until the block exits: a refresher
        polls the change counter every ``interval_s`` (SQLite has no notifications, and polling
        covers a dropped connection); on PostgreSQL a listener also takes the triggers'
        notifications, drops a withdrawn member's templates at once (``drop_withdrawn``) and
        asks the refresher for a full refresh."""
        stop = threading.Event()
        due = threading.Event()
        loops = [self._refresh_loop]
        if self._ledger.store.engine.dialect.name == "postgresql":
            loops.append(self._listen_loop)
        threads = [
            threading.Thread(
                target=loop, args=(stop, due, interval_s), name=f"gallery-{self.site_id}",
                daemon=True,
            )
            for loop in loops
        ]  # fmt: skip
        for thread in threads:
            thread.start()
        try:
            yield self
        finally:
            stop.set()
            due.set()
            for thread in threads:
                thread.join()

    def _refresh_loop(self, stop: threading.Event, due: threading.Event, interval_s: float) -> None:
        while not stop.is_set():
            due.wait(interval_s)
            due.clear()
            if stop.is_set():
                break
            try:
                self.refresh()
            except SQLAlchemyError as exc:
                # Store unreachable: keep matching against the gallery in memory and try
                # again at the next tick; a withdrawal is applied as soon as it is back.
                self._outage.failed(exc)
            else:
                self._outage.succeeded()

    def _listen_loop(self, stop: threading.Event, due: threading.Event, interval_s: float) -> None:
        """LISTEN on its own connection; a lost connection is opened again at the next tick
        (the refresher's polling covers the gap)."""
        import psycopg

        engine = self._ledger.store.engine
        url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        prefix = f"{self.site_id}:"
        while not stop.is_set():
            try:
                with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    while not stop.is_set():
                        # Each notification is handled as it arrives; the timeout only bounds
                        # how long a stop waits.
                        for note in conn.notifies(timeout=LISTEN_TICK_S):
                            if note.payload.startswith(prefix):
                                self._drop_quietly([note.payload.removeprefix(prefix)])
                                due.set()
            except psycopg.Error:
                stop.wait(interval_s)

    def _drop_quietly(self, member_ids: list[str]) -> None:
        """A success here ends no outage: ``drop_withdrawn`` may not need the store at all (a
        member not held); the refresher, woken by the same notification, tells."""
        try:
            self.drop_withdrawn(member_ids)
        except SQLAlchemyError as exc:
            self._outage.failed(exc)

    def _live_templates(
        self, s: Session, now: dt.datetime
    ) -> dict[str, tuple[str, dt.datetime | None]]:
        """Template id -> (member id, consent expiry) of every template searched at the site.
        Ids only: a change (one withdrawal at a 100,000-member site) must not re-read every
        sealed blob; those are read for the new templates alone (``_sealed``)."""
        rows = s.execute(
            live_templates(
                select(Template.id, Template.member_id, Consent.expires_at), self.site_id, now
            )
        ).all()
        return {row[0]: (row[1], row[2]) for row in rows}

    def _sealed(self, s: Session, template_ids: list[str]) -> dict[str, bytes]:
        """The sealed blobs of ``template_ids``, read in the caller's transaction (so they are
        the same templates ``_live_templates`` saw), a bounded number per query."""
        found: dict[str, bytes] = {}
        for lo in range(0, len(template_ids), SEALED_PER_QUERY):
            chunk = template_ids[lo : lo + SEALED_PER_QUERY]
            rows = s.execute(select(Template.id, Template.sealed).where(Template.id.in_(chunk)))
            found.update((tid, sealed) for tid, sealed in rows)
        return found


def bump_version(s: Session, site_id: str) -> None:
    """Tell the site's workers to refresh (what the store's triggers do for template and consent
    changes), for changes no trigger sees: the site's false-alert budget or threshold override."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    dialect = s.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(GalleryVersion).values(site_id=site_id, version=1)
    s.execute(
        statement.on_conflict_do_update(
            index_elements=[GalleryVersion.site_id],
            set_={"version": GalleryVersion.version + 1},
        )
    )


def live_templates(query: QueryT, site_id: str, now: dt.datetime) -> QueryT:
    """``query`` restricted to the templates searched at a site: members at home there whose
    template's recognition consent is in force and covers the site. One definition, shared by
    the worker gallery and calibration's count."""
    return (
        query.join(Consent, Consent.id == Template.consent_id)
        .join(Member, Member.id == Template.member_id)
        .where(
            Member.site_id == site_id,
            Consent.purpose == RECOGNITION,
            Consent.withdrawn_at.is_(None),
            or_(Consent.expires_at.is_(None), Consent.expires_at > now),
            or_(Consent.site_id.is_(None), Consent.site_id == site_id),
        )
    )
