"""Operations verbs: the retention purge, purchase imports and the per-site calibration report.
Each is a thin layer over ``consentcam.consent`` and ``consentcam.match.calibration``."""

from __future__ import annotations

from pathlib import Path

import click

from consentcam.cli.common import State, json_option
from consentcam.cli.store_cmds import _emit, _ledger


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


@click.command(epilog="Example: consentcam calibrate --site flagship --target-fpir 0.001 --json")
@click.option("--site", "site_name", required=True, help="The site whose gallery is reported.")
@click.option(
    "--target-fpir",
    type=float,
    help="Wanted share of non-member visitors falsely matched to some member "
    "[default: the model card's].",
)
@json_option
@click.pass_obj
def calibrate(state: State, site_name: str, target_fpir: float | None, as_json: bool) -> None:
    """The threshold in force for a site's gallery size, and the false alerts and misses to
    expect from it."""
    from consentcam.match.calibration import calibration

    r = calibration(_ledger(state), site_name, target_fpir)
    lines = [
        f"site {r['site']} ({r['jurisdiction']}): {r['gallery_members']} enrolled member(s)",
        f"threshold {r['threshold']:.4f} (model card {r['model_card_version']}) at FMR "
        f"{r['fmr_in_force']:.3g} per comparison, target FPIR {r['target_fpir']:g}",
        f"expected false alerts: {r['expected_false_alerts_per_1000_non_members']:.3g} per 1,000 "
        f"non-member visitors; expected misses: {100 * r['expected_fnmr']:.1f}% of member visits",
    ]
    if r["note"]:
        lines.append(f"note: {r['note']}")
    if r["filing"]:
        f = r["filing"]
        lines.append(
            f"filing: {f['enrolled_people']:,} people enrolled in the tenant "
            f"(warn at {f['warn_at']:,}, file at {f['file_at']:,}): {f['status']}"
        )
    _emit(as_json, r, "\n".join(lines))


COMMANDS = [purge, purchases, calibrate]
