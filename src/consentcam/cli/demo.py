"""``consentcam demo``: the main job on bundled sample media, offline.

The library is imported inside each command, not at the top: every command's module loads at each
start of the CLI, ``--help`` included (see ``consentcam.cli``).
"""

from __future__ import annotations

import secrets
import tempfile
from pathlib import Path
from typing import Any

import click

from consentcam.cli.common import State, json_option, print_json
from consentcam.cli.shutdown import interrupt, serve_until_stopped, stop_signals


@click.command(
    epilog="""\b
Examples:
  consentcam demo                  # summary, then the dashboard on http://127.0.0.1:8000
  consentcam demo --headless       # summary only
  consentcam demo --headless --json"""
)
@click.option("--headless", is_flag=True, help="Print the summary and exit; serve nothing.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@json_option
@click.pass_obj
def demo(state: State, headless: bool, port: int, as_json: bool) -> None:
    """Enrol a sample member from one photo, recognise them in another, and report a
    non-member as unknown; then, in a throwaway store, record the member's consent, enrol them
    and run a door camera on a clip made from the bundled photos: one alert for the member, the
    passer-by counted and forgotten. Unless --headless, serve the dashboard with the alert
    until Ctrl-C (or SIGTERM, SIGHUP). The throwaway store is deleted at the end, however the
    demo is stopped."""
    from consentcam.demo import run_demo, run_video_demo

    settings = state.settings()
    # SIGTERM and SIGHUP unwind like Ctrl-C: the temporary folder holds a store and its
    # development key, and only an unwinding stop runs its deletion.
    with stop_signals(interrupt):
        report: dict[str, Any] = run_demo(settings.vision)
        with tempfile.TemporaryDirectory(prefix="consentcam-demo-") as tmp:
            ledger, report["camera"] = run_video_demo(settings, Path(tmp))
            if as_json:
                print_json(report)
            else:
                _print_summary(report)
            if not headless:
                _serve(ledger, port)


def _print_summary(report: dict[str, Any]) -> None:
    enrolled = report["enrolled"]
    click.echo(f"enrolled {enrolled['member']} from {enrolled['photo']} (quality ok)")
    for r in report["identified"]:
        who = r["member"] or "unknown (not a member: nothing kept)"
        click.echo(f"{r['photo']}: {who}  distance {r['distance']} / threshold {r['threshold']}")
    camera = report["camera"]
    click.echo(
        f"door camera on a {camera['clip']['frames']}-frame sample clip ({camera['fps']} fps):"
    )
    for e in camera["events"]:
        click.echo(
            f"  {e['kind']}: {e['member']} ({e['status']}; allowed now: "
            f"{', '.join(e['allowed_actions'])}) distance {e['distance']} / {e['threshold']}"
        )
        bought = e["purchases"]
        top = ", ".join(f"{t['item']} x{t['count']}" for t in bought["top_items"])
        spend = ", ".join(f"{c / 100:.2f} {cur}" for cur, c in bought["spend_cents"].items())
        click.echo(
            f"    member card: last visits {', '.join(bought['last_visits'])}; {top}; {spend}"
        )
        shown = [f"{kind} {url}" for kind, url in e["pictures"].items() if url]
        if shown:
            click.echo(f"    to compare before confirming: {'; '.join(shown)} (staff login)")
    click.echo(
        f"  {camera['unknown_tracks']} passer-by track(s): counted, not identified, not kept"
    )
    f = camera["footfall"]
    click.echo(
        f"  footfall: {f['visits']} visits; line crossings: {f['entries']} in, {f['exits']} out"
    )
    stored = ", ".join(f"{n} {name}" for name, n in camera["stored"].items())
    click.echo(f"stored: {stored}")
    click.echo(f"not stored: {camera['not_stored']}")


def _serve(ledger: Any, port: int) -> None:
    """The dashboard over the demo store, with a one-off owner login printed on stderr, until a
    stop signal (a clean shutdown: the caller then deletes the store)."""
    from consentcam.api.app import create_app
    from consentcam.auth.users import add_user

    password = secrets.token_urlsafe(12)
    add_user(ledger, "demo", "owner", password)
    app = create_app(ledger.settings)
    click.echo(
        f"dashboard: http://127.0.0.1:{port}/  (user 'demo', password {password}); "
        "Ctrl-C ends the demo and deletes its store",
        err=True,
    )
    serve_until_stopped(app, host="127.0.0.1", port=port, log_level="warning")
