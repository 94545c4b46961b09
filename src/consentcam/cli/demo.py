"""``consentcam demo``: the main job on bundled sample photos, offline."""

from __future__ import annotations

import click

from consentcam.cli.common import State, json_option, print_json


@click.command(epilog="Example: consentcam demo --json")
@json_option
@click.pass_obj
def demo(state: State, as_json: bool) -> None:
    """Enrol a sample member from one photo, recognise them in another, and report a
    non-member as unknown; then run a door camera on a clip made from the bundled photos: one
    alert for the member, the passer-by counted and forgotten (nothing is stored)."""
    from consentcam.demo import run_demo, run_video_demo

    settings = state.settings()
    report = run_demo(settings.vision)
    report["camera"] = run_video_demo(settings)
    if as_json:
        print_json(report)
        return
    enrolled = report["enrolled"]
    click.echo(f"enrolled {enrolled['member']} from {enrolled['photo']} (quality ok)")
    for r in report["identified"]:
        who = r["member"] or "unknown (not a member: nothing kept)"
        click.echo(f"{r['photo']}: {who}  distance {r['distance']} / threshold {r['threshold']}")
    click.echo(f"stored: {report['stored']}")
    camera = report["camera"]
    click.echo(
        f"door camera on a {camera['clip']['frames']}-frame sample clip ({camera['fps']} fps):"
    )
    for e in camera["events"]:
        click.echo(
            f"  {e['kind']}: {e['member']} ({e['status']}; allowed now: "
            f"{', '.join(e['allowed_actions'])}) distance {e['distance']} / {e['threshold']}"
        )
    click.echo(
        f"  {camera['unknown_tracks']} passer-by track(s): counted, not identified, not kept"
    )
    click.echo(f"stored: {camera['stored']}")
