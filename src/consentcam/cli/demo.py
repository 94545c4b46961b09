"""``consentcam demo``: the main job on bundled sample photos, offline."""

from __future__ import annotations

import click

from consentcam.cli.common import State, json_option, print_json


@click.command(epilog="Example: consentcam demo --json")
@json_option
@click.pass_obj
def demo(state: State, as_json: bool) -> None:
    """Enrol a sample member from one photo, recognise them in another, and report a
    non-member as unknown, on bundled public-domain photos (nothing is stored)."""
    from consentcam.demo import run_demo

    report = run_demo(state.settings().vision)
    if as_json:
        print_json(report)
        return
    enrolled = report["enrolled"]
    click.echo(f"enrolled {enrolled['member']} from {enrolled['photo']} (quality ok)")
    for r in report["identified"]:
        who = r["member"] or "unknown (not a member: nothing kept)"
        click.echo(f"{r['photo']}: {who}  distance {r['distance']} / threshold {r['threshold']}")
    click.echo(f"stored: {report['stored']}")
