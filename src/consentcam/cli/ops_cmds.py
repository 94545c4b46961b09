"""Operations verbs: the retention purge, purchase imports, the per-site calibration report and
the accuracy staff answers measure. Each is a thin layer over ``consentcam.consent``,
``consentcam.consent.calibration`` and ``consentcam.events.accuracy``.

The library is imported inside each command, not at the top: every command's module loads at each
start of the CLI, ``--help`` included (see ``consentcam.cli``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from consentcam.cli.common import State, cli_ledger, emit, json_option
from consentcam.errors import InputError


@click.command(
    epilog="""\b
Example (daily, from cron):
  consentcam --data-dir /var/lib/consentcam purge --json"""
)
@json_option
@click.pass_obj
def purge(state: State, as_json: bool) -> None:
    """Delete templates whose consent ended or whose member has been inactive too long, and
    events and footfall past the site profile's retention, for every tenant of the store (each
    tenant's audit log gets its own entry); consents are kept as evidence. Safe to rerun."""
    from consentcam.consent.retention import purge as do_purge

    report = do_purge(cli_ledger(state), every_tenant=True)
    t = report["templates_deleted"]
    emit(
        as_json,
        report,
        f"purged {sum(t.values())} template(s) (expired consent {t['expired_consent']}, "
        f"withdrawn consent {t['withdrawn_consent']}, inactive {t['inactive']}) and "
        f"{report['events_deleted']} event(s)",
    )


@click.group()
def purchases() -> None:
    """Purchase history from the point of sale (shown to staff when a member is recognised)."""


@purchases.command(
    "import",
    epilog="""\b
Example:
  consentcam purchases import pos-export-2026-11-30.csv --json
\b
The CSV header is member_id,time,items,amount,currency, e.g.
  3f2a...,2026-11-30T10:15:00+01:00,coffee;croissant,4.80,EUR""",
)
@click.argument("csv_path", metavar="CSV", type=click.Path(path_type=Path))
@json_option
@click.pass_obj
def purchases_import(state: State, csv_path: Path, as_json: bool) -> None:
    """Import a POS export; all or nothing (a bad row is reported with its line number)."""
    from consentcam.consent.purchases import import_purchases

    result = import_purchases(cli_ledger(state), csv_path)
    emit(
        as_json,
        result,
        f"imported {result['rows']} purchase(s) for {result['members']} member(s)",
    )


@click.command(
    epilog="""\b
Examples:
  consentcam calibrate --site flagship --json
  consentcam calibrate --site flagship --budget 2     # cameras: 2 false alerts per 1,000 visitors
  consentcam calibrate --site flagship --default-budget
  consentcam calibrate --site flagship --apply-threshold 0.2291   # from 'consentcam accuracy'
  consentcam calibrate --site flagship --clear-threshold
  consentcam calibrate --site flagship --dismissal-budget 0.05    # staff may dismiss 1 in 20"""
)
@click.option("--site", "site_name", required=True, help="The site whose gallery is reported.")
@click.option(
    "--target-fpir",
    type=float,
    help="Still photos ('identify'): wanted share of non-member photos falsely matched to some "
    "member [default: the model card's].",
)
@click.option(
    "--budget",
    type=float,
    help="Choose the cameras' operating point: expected false alerts per 1,000 non-member "
    "visitors (within the model card's measured range). Audited; workers follow at once.",
)
@click.option("--default-budget", is_flag=True, help="Go back to the model card's default budget.")
@click.option(
    "--apply-threshold",
    type=float,
    help="Make the cameras stricter: a track threshold below the model card's, such as the one "
    "'consentcam accuracy' proposes. Audited; workers follow at once.",
)
@click.option(
    "--clear-threshold", is_flag=True, help="Go back to the model card's track threshold."
)
@click.option(
    "--dismissal-budget",
    type=float,
    help="Share of door alerts staff may dismiss before the site is over budget (0-1, "
    "exclusive) [default: 0.02]. Audited.",
)
@click.option(
    "--default-dismissal-budget", is_flag=True, help="Go back to the default dismissal budget."
)
@json_option
@click.pass_obj
def calibrate(
    state: State,
    site_name: str,
    target_fpir: float | None,
    budget: float | None,
    default_budget: bool,
    apply_threshold: float | None,
    clear_threshold: bool,
    dismissal_budget: float | None,
    default_dismissal_budget: bool,
    as_json: bool,
) -> None:
    """The thresholds in force for a site's gallery size, and the false alerts and misses to
    expect from them; the cameras' trade-off between false alerts and recognised members, and
    (with --budget) the choice of operating point; what staff answers to door alerts say of
    it, and (with --apply-threshold) a stricter threshold from them."""
    from consentcam.consent.calibration import set_false_alert_budget
    from consentcam.events.accuracy import (
        calibration_with_accuracy,
        set_dismissal_budget,
        set_threshold_override,
    )

    for value, flag, reset_flag, reset in (
        (budget, "--budget", "--default-budget", default_budget),
        (apply_threshold, "--apply-threshold", "--clear-threshold", clear_threshold),
        (
            dismissal_budget,
            "--dismissal-budget",
            "--default-dismissal-budget",
            default_dismissal_budget,
        ),
    ):
        if value is not None and reset:
            raise InputError(f"give {flag} or {reset_flag}, not both")
    ledger = cli_ledger(state)
    if budget is not None or default_budget:
        set_false_alert_budget(ledger, site_name, budget)
    if apply_threshold is not None or clear_threshold:
        set_threshold_override(ledger, site_name, apply_threshold)
    if dismissal_budget is not None or default_dismissal_budget:
        set_dismissal_budget(ledger, site_name, dismissal_budget)
    r = calibration_with_accuracy(ledger, site_name, target_fpir)
    c = r["cameras"]
    lines = [
        f"site {r['site']} ({r['jurisdiction']}): {r['gallery_members']} enrolled member(s)",
        f"threshold {r['threshold']:.4f} (model card {r['model_card_version']}) at FMR "
        f"{r['fmr_in_force']:.3g} per comparison, target FPIR {r['target_fpir']:g}",
        f"expected false alerts: {r['expected_false_alerts_per_1000_non_members']:.3g} per 1,000 "
        f"non-member visitors; expected misses: {100 * r['expected_fnmr']:.1f}% of member visits",
    ]
    if r["note"]:
        lines.append(f"note: {r['note']}")
    lines.append(
        f"cameras: budget {c['false_alerts_per_1000']:g} false alert(s) per 1,000 non-member "
        f"visitors ({c['budget_source']}), track threshold {c['threshold']:.4f}; expected "
        f"members recognised: {c['expected_member_recall_1_photo']:.0%} enrolled from one "
        f"photo, {c['expected_member_recall_3_photos']:.0%} from three"
    )
    lines += [
        f"  at {t['false_alerts_per_1000']:g} per 1,000: threshold {t['threshold']:.4f}, "
        f"recognised {t['expected_member_recall_1_photo']:.0%} (1 photo) / "
        f"{t['expected_member_recall_3_photos']:.0%} (3 photos)"
        for t in c["tradeoff"]
    ]
    if c["note"]:
        lines.append(f"note: {c['note']}")
    if r["filing"]:
        f = r["filing"]
        lines.append(
            f"filing: {f['enrolled_people']:,} people enrolled in the tenant "
            f"(warn at {f['warn_at']:,}, file at {f['file_at']:,}): {f['status']}"
        )
    lines.append(_accuracy_line(r["accuracy"]))
    emit(as_json, r, "\n".join(lines))


@click.command(
    epilog="""\b
Examples:
  consentcam accuracy --site flagship                 # the last 30 days
  consentcam accuracy --site flagship --days 90 --json
\b
A proposed threshold is applied with:
  consentcam calibrate --site flagship --apply-threshold 0.2291"""
)
@click.option("--site", "site_name", required=True, help="The site whose door alerts are counted.")
@click.option(
    "--days",
    type=int,
    default=30,
    show_default=True,
    help="Days to cover, up to now (1 to 366).",
)
@json_option
@click.pass_obj
def accuracy(state: State, site_name: str, days: int, as_json: bool) -> None:
    """The shop's accuracy as staff answers measure it: door alerts confirmed, dismissed and
    left unanswered, the share dismissed with its 95% interval, per camera and week, the
    threshold in force and the site's dismissal budget; when the site is over it with
    confidence, the stricter threshold the answers support. Reads counts only."""
    from consentcam.events.accuracy import site_accuracy

    r = site_accuracy(cli_ledger(state), site_name, days)
    lines = [
        f"site {r['site']}, last {r['days']} day(s): {r['alerts']} door alert(s), "
        f"{r['confirmed']} confirmed, {r['dismissed']} dismissed, {r['unanswered']} unanswered"
        + (f", {r['waiting']} waiting" if r["waiting"] else ""),
        f"dismissed: {_share_text(r['false_alert_rate'], r['ci95'])}; budget "
        f"{r['dismissal_budget']:.1%} ({r['budget_source']}): {r['budget_status']}",
        f"threshold in force {r['threshold']:.4f} ({r['threshold_source']}; model card "
        f"{r['model_card_threshold']:.4f})",
    ]
    lines += [
        f"  {c['camera']}: {c['alerts']} alert(s), {c['confirmed']} confirmed, "
        f"{c['dismissed']} dismissed, {c['unanswered']} unanswered; dismissed "
        f"{_share_text(c['false_alert_rate'], c['ci95'])}"
        for c in r["per_camera"]
    ]
    if r["proposal"]:
        p = r["proposal"]
        lines.append(
            f"proposed threshold {p['threshold']:.4f}: {p['dismissed_avoided']} dismissed "
            f"alert(s) avoided, {p['confirmed_kept']:.0%} of confirmed kept "
            f"(apply: consentcam calibrate --site {r['site']} --apply-threshold {p['threshold']})"
        )
    if r["proposal_note"]:
        lines.append(f"note: {r['proposal_note']}")
    emit(as_json, r, "\n".join(lines))


def _share_text(rate: float | None, ci95: list[float]) -> str:
    if rate is None:
        return "no answers yet"
    return f"{rate:.1%} (95% interval {ci95[0]:.1%}-{ci95[1]:.1%})"


def _accuracy_line(a: dict[str, Any]) -> str:
    line = (
        f"staff answers, last {a['days']} days: {a['answered']} answered, dismissed "
        f"{_share_text(a['false_alert_rate'], a['ci95'])}, budget {a['dismissal_budget']:.1%}"
        + (" — over budget" if a["over_budget"] else "")
    )
    if a["threshold_override"] is not None:
        line += f"; stricter threshold applied: {a['threshold_override']:.4f}"
    if a["proposed_threshold"] is not None:
        line += f"; proposed threshold {a['proposed_threshold']:.4f}"
    return line


COMMANDS = [purge, purchases, calibrate, accuracy]
