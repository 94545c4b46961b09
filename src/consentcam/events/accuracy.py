"""The shop's accuracy, measured from what staff say about door alerts.

A door recognition waits for staff: confirmed (it was the member) or dismissed (it was not). The
model card predicts false alerts from a benchmark; the answers measure them at this door, with
this light and these members. For a site over the last N days this module counts the door
alerts and their answers, the share dismissed with its 95% interval, per camera and per ISO
week, and the match distances of confirmed against dismissed alerts. A site whose dismissed
share is above its budget *with confidence* (the interval's lower bound above it) gets a
proposed stricter threshold (``match.rates.proposed_threshold``), which an admin may apply:
audited, and the site's workers decide at it from their next refresh.

Reading the report counts events and reads distances; it decrypts nothing and reads no member's
profile, so, like the calibration report, it writes no audit entry. Members who keep matching
close to the threshold get a prompt on their member card to refresh their photos at the kiosk.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from consentcam.audit import chain
from consentcam.consent.calibration import calibration, site_gallery_size
from consentcam.consent.context import Ledger, site_by_name
from consentcam.consent.gallery import bump_version
from consentcam.consent.profiles import HOLD_S
from consentcam.errors import InputError
from consentcam.match.gallery import track_threshold
from consentcam.match.rates import (
    budget_status,
    distance_histogram,
    distance_quantiles,
    over_budget,
    proposed_threshold,
    share,
    wilson_interval,
)
from consentcam.model_card import model_card
from consentcam.store.models import Camera, Event, Member, Site, Template, Tenant, utcnow

DEFAULT_DAYS = 30
MAX_DAYS = 366
# The share of door alerts staff may dismiss before a site is over budget, where its admin set
# none: one in fifty.
DEFAULT_DISMISSAL_BUDGET = 0.02
# Re-enrolment prompt: a member's last REFRESH_VISITS confirmed visits matched at a median
# distance above REFRESH_SHARE of the threshold in force. Their photos no longer look like them
# at this door (a new haircut, glasses, years): one stricter threshold away from being missed.
REFRESH_VISITS = 5
REFRESH_SHARE = 0.8
# The door alerts: recognitions with a staff answer to give (status NULL: no door).
RECOGNITION = "recognition"
CONFIRMED, DISMISSED, PENDING = "confirmed", "dismissed", "pending"

AlertState = Literal["confirmed", "dismissed", "unanswered", "waiting"]


@dataclass(frozen=True, slots=True)
class DoorAlert:
    """One door alert as staff left it: no one, no face, only where, when, what and how close."""

    camera_id: str | None
    at: dt.datetime
    state: AlertState
    distance: float | None


@dataclass(frozen=True, slots=True)
class Tally:
    """Door alerts by answer. ``unanswered``: still pending after the hold time (the view was
    deleted, staff never said); ``waiting``: pending within it (staff may still answer)."""

    confirmed: int = 0
    dismissed: int = 0
    unanswered: int = 0
    waiting: int = 0

    @property
    def alerts(self) -> int:
        return self.confirmed + self.dismissed + self.unanswered + self.waiting

    @property
    def answered(self) -> int:
        return self.confirmed + self.dismissed

    def document(self) -> dict[str, Any]:
        """The counts, the dismissed share of answered alerts (None without answers) and its
        Wilson 95% interval ([0, 1] without answers: nothing is known)."""
        rate = share(self.dismissed, self.answered)
        return {
            "alerts": self.alerts,
            "confirmed": self.confirmed,
            "dismissed": self.dismissed,
            "unanswered": self.unanswered,
            "waiting": self.waiting,
            "false_alert_rate": None if rate is None else round(rate, 4),
            "ci95": [round(b, 4) for b in wilson_interval(self.dismissed, self.answered)],
        }


@dataclass(frozen=True, slots=True)
class RefreshPrompt:
    """Why a member should refresh their photos at the kiosk."""

    visits: int
    median_distance: float
    threshold: float

    @property
    def text(self) -> str:
        ratio = self.median_distance / self.threshold
        return (
            f"ask to refresh the photos at the kiosk: the last {self.visits} confirmed visits "
            f"matched at a median {ratio:.0%} of the threshold"
        )


def distances(alerts: Iterable[DoorAlert], state: AlertState) -> list[float]:
    """The match distances of the alerts in ``state`` (those that recorded one)."""
    return [a.distance for a in alerts if a.state == state and a.distance is not None]


def tally(alerts: Iterable[DoorAlert]) -> Tally:
    counts = Counter(a.state for a in alerts)
    return Tally(counts["confirmed"], counts["dismissed"], counts["unanswered"], counts["waiting"])


def alert_state(status: str, at: dt.datetime, now: dt.datetime) -> AlertState:
    """``confirmed`` or ``dismissed`` as staff answered; a pending alert is ``unanswered`` once
    its hold time has passed (``consent.profiles.HOLD_S``), else still ``waiting``."""
    if status == CONFIRMED:
        return "confirmed"
    if status == DISMISSED:
        return "dismissed"
    return "unanswered" if at <= now - dt.timedelta(seconds=HOLD_S) else "waiting"


def door_alerts(s: Session, site_id: str, since: dt.datetime, now: dt.datetime) -> list[DoorAlert]:
    """The site's door alerts since ``since``, oldest first. The distance is read out of the
    payload in SQL: the rest of it (the member's name and profile) is never loaded."""
    rows = s.execute(
        select(Event.camera_id, Event.at, Event.status, _distance())
        .where(
            Event.site_id == site_id,
            Event.kind == RECOGNITION,
            Event.status.in_((CONFIRMED, DISMISSED, PENDING)),
            Event.at >= since,
        )
        .order_by(Event.at, Event.id)
    ).all()
    return [
        DoorAlert(camera_id, at, alert_state(status, at, now), distance)
        for camera_id, at, status, distance in rows
    ]


@dataclass(frozen=True, slots=True)
class SiteSettings:
    """What a site's accuracy report is judged against, read in the report's transaction."""

    name: str
    gallery_members: int
    false_alerts_per_1000: float | None  # the cameras' budget (None: the model card's)
    threshold_override: float | None
    dismissal_budget: float | None  # None: DEFAULT_DISMISSAL_BUDGET

    @property
    def card_threshold(self) -> float:
        return model_card().track_threshold(
            max(self.gallery_members, 1), self.false_alerts_per_1000
        )

    @property
    def threshold(self) -> float:
        """The track threshold the site's workers decide at now."""
        return track_threshold(
            self.gallery_members, self.false_alerts_per_1000, self.threshold_override
        )

    @property
    def budget(self) -> float:
        return DEFAULT_DISMISSAL_BUDGET if self.dismissal_budget is None else self.dismissal_budget


def site_settings(s: Session, site: Site) -> SiteSettings:
    return SiteSettings(
        site.name,
        site_gallery_size(s, site),
        site.false_alerts_per_1000,
        site.threshold_override,
        site.dismissal_budget,
    )


def site_accuracy(
    ledger: Ledger, site_name: str, days: int = DEFAULT_DAYS, now: dt.datetime | None = None
) -> dict[str, Any]:
    """The accuracy report of ``site_name`` over the last ``days`` days (see the module's
    docstring): counts, dismissed share with its interval, threshold in force, dismissal
    budget and whether the site is over it with confidence, a proposed stricter threshold when
    it is, per camera, per ISO week, and the distances of confirmed against dismissed alerts."""
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise InputError(f"days must be a whole number from 1 to {MAX_DAYS}, got {days!r}")
    now = now or utcnow()
    since = now - dt.timedelta(days=days)
    with ledger.store.transaction() as s:
        site = site_by_name(s, site_name, ledger.tenant_id(s))
        settings = site_settings(s, site)
        alerts = door_alerts(s, site.id, since, now)
        cameras = site_cameras(s, site.id)
    threshold = settings.threshold
    confirmed, dismissed = distances(alerts, "confirmed"), distances(alerts, "dismissed")
    return {
        "site": settings.name,
        "days": days,
        **tally(alerts).document(),
        "threshold": round(threshold, 4),
        "per_camera": camera_rows(alerts, cameras),
        "per_week": week_rows(alerts, since, now),
        "since": since.isoformat(),
        "until": now.isoformat(),
        "hold_s": HOLD_S,
        "threshold_source": (
            "model card" if threshold == settings.card_threshold else "site override"
        ),
        "model_card_threshold": round(settings.card_threshold, 4),
        "threshold_override": settings.threshold_override,
        **budget_verdict(alerts, settings),
        "distances": {
            "confirmed": distance_quantiles(confirmed),
            "dismissed": distance_quantiles(dismissed),
            "histogram": distance_histogram(confirmed, dismissed),
        },
    }


def budget_verdict(alerts: Sequence[DoorAlert], settings: SiteSettings) -> dict[str, Any]:
    """The dismissal budget, whether the site is over it with confidence and, if so, the
    stricter threshold the answers support.

    Judged on the alerts the threshold in force would still raise (distance at or below it,
    ``at_threshold``): after an admin applies a stricter threshold, the dismissed alerts it cuts
    off no longer count against the site, and the next proposal is not stricter still for the
    same old answers. Before any change the two are the same alerts."""
    threshold, budget = settings.threshold, settings.budget
    raised = [a for a in alerts if a.distance is None or a.distance <= threshold]
    counts = tally(raised)
    over = over_budget(counts.dismissed, counts.answered, budget)
    proposal = (
        proposed_threshold(
            distances(raised, "confirmed"), distances(raised, "dismissed"), budget, threshold
        )
        if over
        else None
    )
    return {
        "dismissal_budget": budget,
        "budget_source": "default" if settings.dismissal_budget is None else "site",
        "at_threshold": counts.document(),
        "budget_status": budget_status(counts.dismissed, counts.answered, budget),
        "over_budget": over,
        "proposal": None
        if proposal is None
        else {
            "threshold": proposal.threshold,
            "confirmed_kept": round(proposal.confirmed_kept, 4),
            "dismissed_share": round(proposal.dismissed_share, 4),
            "dismissed_avoided": proposal.dismissed_avoided,
            "confirmed_lost": proposal.confirmed_lost,
        },
        "proposal_note": _proposal_note(over, proposal is not None, budget),
    }


def accuracy_summary(report: dict[str, Any]) -> dict[str, Any]:
    """What the calibration report says of the staff answers (from ``site_accuracy``)."""
    proposal = report["proposal"]
    return {
        "days": report["days"],
        "answered": report["confirmed"] + report["dismissed"],
        "false_alert_rate": report["false_alert_rate"],
        "ci95": report["ci95"],
        "dismissal_budget": report["dismissal_budget"],
        "over_budget": report["over_budget"],
        "proposed_threshold": None if proposal is None else proposal["threshold"],
        "threshold_in_force": report["threshold"],
        "threshold_override": report["threshold_override"],
    }


def calibration_with_accuracy(
    ledger: Ledger,
    site_name: str,
    target_fpir: float | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The calibration report (``consent.calibration.calibration``) with, under ``accuracy``, what
    the last ``DEFAULT_DAYS`` days of staff answers say: the observed dismissed share, whether
    it is over the site's budget and the stricter threshold proposed if so."""
    report = calibration(ledger, site_name, target_fpir)
    return {**report, "accuracy": accuracy_summary(site_accuracy(ledger, site_name, now=now))}


def camera_rows(
    alerts: Sequence[DoorAlert], cameras: dict[str, tuple[str, bool]]
) -> list[dict[str, Any]]:
    """One row per door camera of the site and per other camera with alerts in the period (one
    switched to another mode since), by name."""
    ids = {a.camera_id for a in alerts} | {cid for cid, (_, door) in cameras.items() if door}
    rows = [
        {
            "camera_id": cid,
            "camera": cameras[cid][0] if cid in cameras else "(no camera recorded)",
            **tally(a for a in alerts if a.camera_id == cid).document(),
        }
        for cid in ids
    ]
    return sorted(rows, key=lambda r: (r["camera"], r["camera_id"] or ""))


def week_rows(
    alerts: Sequence[DoorAlert], since: dt.datetime, now: dt.datetime
) -> list[dict[str, Any]]:
    """One row per ISO week (Monday to Sunday, UTC) that overlaps the period, oldest first, weeks
    without alerts included: a chart's gaps are figures too."""
    first = since.date() - dt.timedelta(days=since.date().weekday())
    weeks = [first + dt.timedelta(weeks=i) for i in range((now.date() - first).days // 7 + 1)]
    states: dict[dt.date, list[DoorAlert]] = {w: [] for w in weeks}
    for a in alerts:
        states.setdefault(a.at.date() - dt.timedelta(days=a.at.date().weekday()), []).append(a)
    return [
        {"week": _iso_week(w), "start": w.isoformat(), **tally(states[w]).document()}
        for w in sorted(states)
    ]


def site_cameras(s: Session, site_id: str) -> dict[str, tuple[str, bool]]:
    """Camera id -> (name, whether in door mode) of every camera of the site."""
    rows = s.execute(select(Camera.id, Camera.name, Camera.mode).where(Camera.site_id == site_id))
    return {cid: (name, mode == "door") for cid, name, mode in rows}


def set_threshold_override(
    ledger: Ledger, site_name: str, threshold: float | None, now: dt.datetime | None = None
) -> dict[str, Any]:
    """Apply a stricter track threshold at the site (None: back to the model card's); refused
    unless above 0 and below the model card's threshold for the site's gallery and budget (an
    override only ever tightens). Audited with the old and new value and the answers behind
    it; the site's workers decide at it from their next refresh. Returns the accuracy report."""
    before_report = site_accuracy(ledger, site_name, now=now)
    with ledger.store.transaction() as s:
        site = site_by_name(s, site_name, ledger.tenant_id(s))
        card_threshold = site_settings(s, site).card_threshold
        if threshold is not None and not 0 < threshold < card_threshold:  # refuses NaN too
            raise InputError(
                f"threshold {threshold:g} must be above 0 and below the model card's "
                f"{card_threshold:.4f} for this site (an override only makes the cameras stricter)"
            )
        _change_audited(
            s,
            ledger,
            site,
            "threshold_override",
            threshold,
            model_card_threshold=round(card_threshold, 4),
            model_card_version=model_card().version,
            answers={
                k: before_report[k]
                for k in ("days", "confirmed", "dismissed", "false_alert_rate", "proposal")
            },
        )
        bump_version(s, site.id)
    return site_accuracy(ledger, site_name, now=now)


def set_dismissal_budget(
    ledger: Ledger, site_name: str, budget: float | None, now: dt.datetime | None = None
) -> dict[str, Any]:
    """Set the share of door alerts staff may dismiss before the site is over budget (None: the
    default, ``DEFAULT_DISMISSAL_BUDGET``); refused outside (0, 1). Audited with the old and
    new budget. Returns the accuracy report."""
    if budget is not None and not 0 < budget < 1:  # refuses NaN too
        raise InputError(f"dismissal budget must be between 0 and 1 (exclusive), got {budget:g}")
    with ledger.store.transaction() as s:
        site = site_by_name(s, site_name, ledger.tenant_id(s))
        _change_audited(s, ledger, site, "dismissal_budget", budget)
    return site_accuracy(ledger, site_name, now=now)


def _change_audited(
    s: Session, ledger: Ledger, site: Site, setting: str, value: float | None, **details: Any
) -> None:
    """Set one of the site's accuracy settings and, in the same transaction, the audit entry
    ``site.<setting>`` saying who changed it, from what and to what (as
    ``set_false_alert_budget`` does for the cameras' budget)."""
    before = getattr(site, setting)
    setattr(site, setting, value)
    chain.append(
        s,
        actor=ledger.actor,
        action=f"site.{setting}",
        subject=site.id,
        details={"site": site.name, "before": before, "after": value, **details},
        tenant_id=site.tenant_id,
    )


@dataclass(frozen=True, slots=True)
class SiteAnswers:
    """All-time answers to a site's door alerts still in the store: counts only."""

    tenant: str
    site: str
    confirmed: int
    dismissed: int


def answer_counts(ledger: Ledger, site_name: str | None = None) -> list[SiteAnswers]:
    """Door alerts confirmed and dismissed per site, in one grouped query: every site of the
    store, or ``site_name`` of the ledger's tenant. Sites without answers count 0."""
    answered = and_(
        Event.site_id == Site.id,
        Event.kind == RECOGNITION,
        Event.status.in_((CONFIRMED, DISMISSED)),
    )
    with ledger.store.transaction() as s:
        query = (
            select(Tenant.name, Site.name, Event.status, func.count(Event.id))
            .select_from(Site)
            .join(Tenant, Tenant.id == Site.tenant_id)
            .outerjoin(Event, answered)
            .group_by(Tenant.name, Site.name, Event.status)
        )
        if site_name is not None:
            query = query.where(Site.id == site_by_name(s, site_name, ledger.tenant_id(s)).id)
        rows = s.execute(query).all()
    counts: dict[tuple[str, str], Counter[str | None]] = {}
    for tenant, site, status, n in rows:
        counts.setdefault((tenant, site), Counter())[status] += n
    return [
        SiteAnswers(tenant, site, c[CONFIRMED], c[DISMISSED])
        for (tenant, site), c in sorted(counts.items())
    ]


def refresh_prompt(s: Session, member: Member) -> RefreshPrompt | None:
    """The re-enrolment prompt for ``member``, or None: their last ``REFRESH_VISITS`` confirmed
    door visits matched at a median distance above ``REFRESH_SHARE`` of the threshold now in
    force at their home site (fewer confirmed visits: too little to tell). None for a member
    without a stored template: never enrolled, or withdrawn (not someone to ask for photos)."""
    enrolled = select(Template.id).where(Template.member_id == member.id).limit(1)
    if s.execute(enrolled).first() is None:
        return None
    distances = (
        s.execute(
            select(_distance())
            .where(
                Event.member_id == member.id,
                Event.kind == RECOGNITION,
                Event.status == CONFIRMED,
            )
            .order_by(Event.at.desc(), Event.id)
            .limit(REFRESH_VISITS)
        )
        .scalars()
        .all()
    )
    known = [d for d in distances if d is not None]
    if len(known) < REFRESH_VISITS:
        return None
    site = s.get(Site, member.site_id)
    assert site is not None
    threshold = site_settings(s, site).threshold
    median = statistics.median(known)
    if median <= REFRESH_SHARE * threshold:
        return None
    return RefreshPrompt(len(known), round(median, 4), round(threshold, 4))


def _distance() -> Any:
    """The alert's match distance, read out of its JSON payload by the database."""
    return Event.payload["distance"].as_float()


def _iso_week(monday: dt.date) -> str:
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def _proposal_note(over: bool, proposed: bool, budget: float) -> str | None:
    if not over or proposed:
        return None
    return (
        f"no stricter threshold brings the dismissed share within {budget:.0%} while keeping "
        "most confirmed alerts: the dismissed matches are as close as the members' own; "
        "ask members to refresh their photos at the kiosk"
    )
