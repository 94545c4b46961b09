"""Camera verbs: watch one camera, run all of a site's cameras, verify-mode claims and door-mode
confirmations. Thin layers over ``consentcam.pipeline``.

The library is imported inside each command, not at the top: every command's module loads at each
start of the CLI, ``--help`` included (see ``consentcam.cli``).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from typing import Any

import click

from consentcam.cli.common import State, cli_ledger, emit, json_option
from consentcam.cli.shutdown import stop_signals
from consentcam.errors import InputError


@click.command(
    epilog="""\b
Examples:
  consentcam watch door-1 --json               # events as JSON lines; a file source ends at EOF
  consentcam watch door-1 --site main --max-frames 300"""
)
@click.argument("camera")
@click.option("--site", "site_name", help="Site of the camera, when several share its name.")
@click.option(
    "--max-frames", type=click.IntRange(min=1), help="Stop after this many frames (testing)."
)
@click.option("--json", "as_json", is_flag=True, help="Print events as JSON lines on stdout.")
@click.pass_obj
def watch(
    state: State, camera: str, site_name: str | None, max_frames: int | None, as_json: bool
) -> None:
    """Process one camera in this terminal: member events are printed as they happen, and a
    summary line at the end. Face modes refuse to start without the profile's permission and
    signage attestation. Stops at the end of a file source, or on Ctrl-C, SIGTERM or SIGHUP
    (footfall and spooled alerts written first)."""
    from consentcam.consent.sites import camera_source_policy
    from consentcam.pipeline.camera import camera_context
    from consentcam.pipeline.sources import open_source
    from consentcam.pipeline.worker import CameraWorker, WorkerStats, run_camera

    ledger = cli_ledger(state)
    ctx = camera_context(ledger, camera, site_name)
    worker = CameraWorker(ledger, ctx)
    worker.load()  # before a live stream opens, or it piles up unread while the models load
    policy = camera_source_policy(ledger.settings)  # the source rule, checked again at open
    source = open_source(ctx.source, ctx.camera, ledger.settings.source, policy=policy)
    stop = threading.Event()
    final: list[WorkerStats] = []

    def on_event(event: dict[str, Any]) -> None:
        if as_json:
            click.echo(json.dumps(event, sort_keys=False))
        else:
            member = event["payload"].get("member", {})
            click.echo(
                f"{event['at']} {event['kind']}: {member.get('name', '?')} ({member.get('id')}) "
                f"at {ctx.camera}, distance {event['payload'].get('distance')}"
            )

    def on_frame(n: int) -> None:
        if max_frames is not None and n >= max_frames:
            stop.set()

    try:
        with stop_signals(stop.set):  # the summary is printed however it is stopped
            run_camera(
                worker,
                source,
                stop=stop,
                on_event=on_event,
                on_frame=on_frame,
                on_stats=lambda s: final.append(s),
                stats_every_s=3600,
                heartbeat=True,
            )
    finally:
        source.close()
    stats = final[-1]
    summary = {
        "kind": "summary",
        "camera": ctx.camera,
        "mode": ctx.mode,
        "frames": stats.frames,
        "fps": stats.fps,
        "dropped": stats.dropped,
        "reconnects": stats.reconnects,
        "events": stats.events,
        "stage_ms": stats.stage_ms,
    }
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(
            f"{ctx.camera}: {stats.frames} frames at {stats.fps} fps, {stats.events} event(s), "
            f"{stats.dropped} dropped"
        )


@click.command(
    epilog="""\b
Examples:
  consentcam run --site main                   # every camera of site 'main'
  consentcam run --metrics-port 9464           # all cameras; metrics at :9464/metrics"""
)
@click.option("--site", "site_name", help="Only this site's cameras (default: every camera).")
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    help="Port for Prometheus metrics on 127.0.0.1 (0 turns them off) [default: setting].",
)
@click.pass_obj
def run(state: State, site_name: str | None, metrics_port: int | None) -> None:
    """Supervise cameras: one process per camera, a crashed worker restarted with backoff, a
    camera refused by policy reported and left off, webhook deliveries from the outbox, and
    Prometheus metrics (fps, per-stage latency, drops, queue depth, restarts, door alerts
    confirmed and dismissed per site). Ctrl-C, SIGTERM (a service manager) or SIGHUP (a closed
    terminal) stop it cleanly, with exit status 0: each camera writes the footfall it holds and
    its spooled alerts first, whether the signal reaches only this process or every camera
    process too."""
    from consentcam.pipeline.metrics import AnswerMetrics, serve_metrics
    from consentcam.pipeline.supervisor import Supervisor, site_cameras

    settings = state.settings()
    cameras = site_cameras(settings, site_name)
    if not cameras:
        raise InputError("no cameras to run; add one with 'consentcam camera add'")
    supervisor = Supervisor(settings, cameras)
    port = settings.pipeline.metrics_port if metrics_port is None else metrics_port
    server = None
    if port:
        # Staff answers are counted in the store at each scrape: they come through the API.
        answers = AnswerMetrics(cli_ledger(state), site_name)
        server = serve_metrics(supervisor.metrics, port, "127.0.0.1", answers)
    stop = threading.Event()
    deliverer = _start_deliveries(state, stop)
    click.echo(
        f"running {len(cameras)} camera(s)"
        + (f"; metrics at http://127.0.0.1:{port}/metrics" if port else ""),
        err=True,
    )
    try:
        with stop_signals(stop.set):
            supervisor.run(stop)
    finally:
        stop.set()  # also when every camera finished by itself (file sources)
        if server is not None:
            server.shutdown()
        if deliverer is not None:
            deliverer.join(5)


def _start_deliveries(state: State, stop: threading.Event) -> threading.Thread | None:
    from consentcam.events.webhooks import deliver_forever

    ledger = cli_ledger(state)
    thread = threading.Thread(
        target=deliver_forever, args=(ledger, stop, 1.0), name="webhooks", daemon=True
    )
    thread.start()
    return thread


@click.command(
    epilog="""\b
Example (a kiosk after scanning the member's QR code):
  consentcam claim kiosk-cam 3f2a...e1 --json"""
)
@click.argument("camera")
@click.argument("member_id")
@click.option("--site", "site_name", help="Site of the camera, when several share its name.")
@click.option(
    "--ttl", "ttl_s", type=click.FloatRange(min=1), help="Seconds before the claim expires."
)
@json_option
@click.pass_obj
def claim(
    state: State,
    camera: str,
    member_id: str,
    site_name: str | None,
    ttl_s: float | None,
    as_json: bool,
) -> None:
    """Verify mode: MEMBER_ID says they stand at CAMERA; the camera checks that one person
    (1:1) and the claim expires if it does not see them in time."""
    from consentcam.events.claims import claim_document, open_claim

    ledger = cli_ledger(state)
    c = open_claim(ledger, camera, member_id, site_name=site_name, ttl_s=ttl_s)
    document = claim_document(ledger, c)
    refresh = f"\n{document['refresh_photos']}" if document["refresh_photos"] else ""
    emit(as_json, document, f"claim {c.id} open until {c.expires_at.isoformat()}{refresh}")


@click.command(
    epilog="""\b
Examples:
  consentcam confirm 9b1c...77                 # staff confirm a door recognition
  consentcam confirm 9b1c...77 --dismiss       # not that member: no action beyond the greeting"""
)
@click.argument("event_id")
@click.option("--dismiss", is_flag=True, help="Reject the recognition instead of confirming it.")
@json_option
@click.pass_obj
def confirm(state: State, event_id: str, dismiss: bool, as_json: bool) -> None:
    """Door mode: a staff member confirms (or dismisses) a recognition before any action beyond
    a greeting. Audited with the actor (CONSENTCAM_ACTOR)."""
    from consentcam.events.staff import confirm_event

    document = confirm_event(cli_ledger(state), event_id, confirm=not dismiss)
    emit(as_json, document, f"event {event_id} {document['status']}")


@click.command(
    epilog="""\b
Examples:
  consentcam footfall --site flagship --json            # the last 24 hours, per camera and hour
  consentcam footfall --site flagship --since 2026-11-01 --until 2026-12-01"""
)
@click.option("--site", "site_name", required=True, help="Site whose cameras to report.")
@click.option("--camera", "camera_name", help="Only this camera.")
@click.option("--since", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M"]), help="From (UTC).")
@click.option("--until", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M"]), help="To (UTC).")
@json_option
@click.pass_obj
def footfall(
    state: State,
    site_name: str,
    camera_name: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    as_json: bool,
) -> None:
    """Anonymous footfall: entries, exits, visits and mean dwell per camera and hour. Counts
    only; no person, face or track is stored."""
    from sqlalchemy import select

    from consentcam.consent.context import camera_by_ref, site_by_name
    from consentcam.pipeline.footfall import footfall_report
    from consentcam.store.models import Camera, utcnow

    end = until.replace(tzinfo=dt.UTC) if until else utcnow()
    start = since.replace(tzinfo=dt.UTC) if since else end - dt.timedelta(days=1)
    if start >= end:
        raise InputError("--since must be before --until")
    ledger = cli_ledger(state)
    with ledger.store.transaction() as s:
        tenant_id = ledger.tenant_id(s)
        site = site_by_name(s, site_name, tenant_id)
        if camera_name is not None:
            cameras = {camera_by_ref(s, camera_name, site_name, tenant_id).id: camera_name}
        else:
            rows = s.execute(select(Camera.id, Camera.name).where(Camera.site_id == site.id))
            cameras = {cid: name for cid, name in rows.all()}
        rows_out = footfall_report(s, list(cameras), start, end)
    for row in rows_out:
        row["camera"] = cameras[row["camera_id"]]
    document = {"site": site_name, "since": start.isoformat(), "until": end.isoformat()}
    if as_json:
        click.echo(json.dumps({**document, "hours": rows_out}, indent=2))
        return
    if not rows_out:
        click.echo(
            f"no footfall at {site_name} between {start:%Y-%m-%d %H:%M} and {end:%Y-%m-%d %H:%M}"
        )
    for row in rows_out:
        dwell = "-" if row["mean_dwell_s"] is None else f"{row['mean_dwell_s']} s"
        click.echo(
            f"{row['hour']}  {row['camera']}: {row['entries']} in, {row['exits']} out, "
            f"{row['visits']} visits, mean dwell {dwell}"
        )


COMMANDS: list[click.Command] = [watch, run, claim, confirm, footfall]
