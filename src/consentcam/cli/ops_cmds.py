"""Operations verbs: the retention purge, purchase imports and the per-site calibration report.
Each is a thin layer over ``consentcam.consent`` and ``consentcam.match.calibration``."""

from __future__ import annotations

from pathlib import Path

import click

from consentcam.cli.common import State, json_option
from consentcam.cli.store_cmds import _emit, _ledger
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

    report = do_purge(_ledger(state), every_tenant=True)
    t = report["templates_deleted"]
    _emit(
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

    result = import_purchases(_ledger(state), csv_path)
    _emit(
        as_json,
        result,
        f"imported {result['rows']} purchase(s) for {result['members']} member(s)",
    )


@click.command(
    epilog="""\b
Examples:
  consentcam calibrate --site flagship --json
  consentcam calibrate --site flagship --budget 2     # cameras: 2 false alerts per 1,000 visitors
  consentcam calibrate --site flagship --default-budget"""
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
@json_option
@click.pass_obj
def calibrate(
    state: State,
    site_name: str,
    target_fpir: float | None,
    budget: float | None,
    default_budget: bool,
    as_json: bool,
) -> None:
    """The thresholds in force for a site's gallery size, and the false alerts and misses to
    expect from them; the cameras' trade-off between false alerts and recognised members, and
    (with --budget) the choice of operating point."""
    from consentcam.match.calibration import calibration, set_false_alert_budget

    if budget is not None and default_budget:
        raise InputError("give --budget or --default-budget, not both")
    ledger = _ledger(state)
    if budget is not None or default_budget:
        set_false_alert_budget(ledger, site_name, budget)
    r = calibration(ledger, site_name, target_fpir)
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
    _emit(as_json, r, "\n".join(lines))


COMMANDS = [purge, purchases, calibrate]
