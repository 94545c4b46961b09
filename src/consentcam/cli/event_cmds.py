"""Event verbs: webhooks (add, list, test, deliveries, remove), delivering them, and serving the
API. Each is a thin layer over ``consentcam.events`` and ``consentcam.api``.

The library is imported inside each command, not at the top: every command's module loads at each
start of the CLI, ``--help`` included (see ``consentcam.cli``).
"""

from __future__ import annotations

import json
import threading

import click

from consentcam.cli.common import State, cli_ledger, emit, json_option, print_json
from consentcam.cli.shutdown import serve_until_stopped
from consentcam.errors import InputError


@click.group()
def webhook() -> None:
    """Staff-system endpoints that receive signed event notifications."""


@webhook.command(
    "add",
    epilog="""\b
Examples:
  consentcam webhook add https://staff.example.com/hooks/consentcam --site flagship
  consentcam webhook add https://crm.example.com/events --json   # every site
\b
The secret is printed once; the receiver checks each request's Consentcam-Signature header
(t=<unix>,v1=<hex HMAC-SHA256 of "<t>." + body>) with it.""",
)
@click.argument("url")
@click.option("--site", "site_name", help="Only this site's events (default: every site).")
@json_option
@click.pass_obj
def webhook_add(state: State, url: str, site_name: str | None, as_json: bool) -> None:
    """Register a webhook; prints its id and signing secret (shown only this once)."""
    from consentcam.events.webhooks import add_webhook

    hook, secret = add_webhook(cli_ledger(state), url, site_name)
    emit(
        as_json,
        {"webhook_id": hook.id, "url": hook.url, "site": site_name, "secret": secret},
        f"webhook {hook.id} added\nsecret: {secret}\n(store it now: it is not shown again)",
    )


@webhook.command("list", epilog="Example: consentcam webhook list --json")
@json_option
@click.pass_obj
def webhook_list(state: State, as_json: bool) -> None:
    """Webhooks with their scope and delivery counts (secrets are never shown)."""
    from consentcam.events.webhooks import list_webhooks

    hooks = list_webhooks(cli_ledger(state))
    if as_json:
        print_json([h.as_dict() for h in hooks])
        return
    if not hooks:
        click.echo("no webhooks")
    for h in hooks:
        d = h.deliveries
        click.echo(
            f"{h.id}  {h.url}  site={h.site or '*'}  {'active' if h.active else 'inactive'}  "
            f"pending={d['pending']} delivered={d['delivered']} failed={d['failed']}"
        )


@webhook.command(
    "test",
    epilog="""\b
Examples:
  consentcam webhook test 9c1e...
  consentcam webhook test 9c1e... --json
\b
The exit status is 0 whether or not the receiver took it: the output (and --json's
"delivered") says which.""",
)
@click.argument("webhook_id", metavar="ID")
@json_option
@click.pass_obj
def webhook_test(state: State, webhook_id: str, as_json: bool) -> None:
    """Send one signed test event (kind webhook.test) now; print the receiver's answer."""
    from consentcam.events.destinations import webhook_client
    from consentcam.events.webhooks import send_test

    ledger = cli_ledger(state)
    with webhook_client(ledger.settings) as client:
        result = send_test(ledger, webhook_id, client)
    outcome = "delivered" if result.delivered else "not delivered"
    emit(as_json, result.as_dict(), f"test event {result.event_id} {outcome}: {result.detail}")


@webhook.command(
    "deliveries",
    epilog="""\b
Examples:
  consentcam webhook deliveries 9c1e...
  consentcam webhook deliveries 9c1e... --failures --limit 50 --json""",
)
@click.argument("webhook_id", metavar="ID")
@click.option("--failures", is_flag=True, help="Only those whose last attempt failed.")
@click.option(
    "--limit", type=click.IntRange(1, 1000), default=20, show_default=True, help="How many."
)
@json_option
@click.pass_obj
def webhook_deliveries(
    state: State, webhook_id: str, failures: bool, limit: int, as_json: bool
) -> None:
    """The webhook's latest deliveries, newest event first, with the last problem in words."""
    from consentcam.events.webhooks import list_deliveries

    rows = list_deliveries(cli_ledger(state), webhook_id, failures=failures, limit=limit)
    if as_json:
        print_json([row.as_dict() for row in rows])
        return
    if not rows:
        click.echo("no deliveries")
    for d in rows:
        problem = f"  last problem: {d.last_error_words}" if d.last_error_words else ""
        click.echo(
            f"{d.event_at.isoformat()}  {d.event_kind}  {d.status}  attempts={d.attempts}{problem}"
        )


@webhook.command("remove", epilog="Example: consentcam webhook remove 9c1e...")
@click.argument("webhook_id", metavar="ID")
@json_option
@click.pass_obj
def webhook_remove(state: State, webhook_id: str, as_json: bool) -> None:
    """Delete a webhook, its secret and its deliveries (pending ones are dropped)."""
    from consentcam.events.webhooks import remove_webhook

    info = remove_webhook(cli_ledger(state), webhook_id)
    dropped = info.deliveries["pending"]
    emit(
        as_json,
        {"webhook_id": info.id, "removed": True, "pending_dropped": dropped},
        f"webhook {info.id} removed ({dropped} pending deliveries dropped)",
    )


@click.command(
    epilog="""\b
Examples:
  consentcam deliver --json                 # one round, then exit (e.g. from cron)
  consentcam deliver --follow --interval 2  # until Ctrl-C; JSON lines with --json""",
)
@click.option("--follow", is_flag=True, help="Keep delivering until interrupted (Ctrl-C).")
@click.option(
    "--interval",
    type=click.FloatRange(0.1, 3600),
    default=2.0,
    show_default=True,
    help="With --follow: seconds between rounds when nothing is due.",
)
@json_option
@click.pass_obj
def deliver(state: State, follow: bool, interval: float, as_json: bool) -> None:
    """Send due webhook deliveries (signed, retried with backoff, failed after max attempts)."""
    from consentcam.events.destinations import webhook_client
    from consentcam.events.webhooks import DeliveryReport, deliver_due, deliver_forever

    ledger = cli_ledger(state)

    def show(report: DeliveryReport) -> None:
        if as_json:
            click.echo(json.dumps(report.as_dict()))
        else:
            click.echo(
                f"attempted {report.attempted}: delivered {report.delivered}, "
                f"retrying {report.retrying}, failed {report.failed}"
            )

    if not follow:
        with webhook_client(ledger.settings) as client:
            show(deliver_due(ledger, client))
        return
    stop = threading.Event()
    try:
        deliver_forever(ledger, stop, interval, on_report=show)
    except KeyboardInterrupt:
        stop.set()
        click.echo("stopped", err=True)


@click.command(
    epilog="""\b
Examples:
  consentcam serve --port 8080                                   # http://127.0.0.1:8080
  consentcam serve --host 0.0.0.0 --tls-cert shop.pem --tls-key shop.key
  consentcam serve --host 0.0.0.0 --behind-proxy                 # TLS ends at the proxy""",
)
@click.option(
    "--dev",
    is_flag=True,
    help="Development settings (a store initialised with --dev keeps its generated key).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option("--tls-cert", type=click.Path(dir_okay=False, exists=True), help="TLS certificate.")
@click.option("--tls-key", type=click.Path(dir_okay=False, exists=True), help="TLS private key.")
@click.option(
    "--behind-proxy",
    is_flag=True,
    help="A TLS-terminating reverse proxy is in front: trust its X-Forwarded-* headers "
    "(from --forwarded-allow-ips) for client addresses and https.",
)
@click.option(
    "--forwarded-allow-ips",
    default="127.0.0.1",
    show_default=True,
    help="Proxy addresses whose X-Forwarded-* headers are trusted.",
)
@click.pass_obj
def serve(
    state: State,
    dev: bool,
    host: str,
    port: int,
    tls_cert: str | None,
    tls_key: str | None,
    behind_proxy: bool,
    forwarded_allow_ips: str,
) -> None:
    """Serve the API, the staff dashboard and the kiosk. Every route but the health check
    needs a login or an API token ('consentcam user add', 'consentcam user token'); off the
    machine it must be served over TLS (here, or at a reverse proxy in front). SIGINT, SIGTERM
    and SIGHUP shut it down cleanly (open requests get 5 s), with exit status 0."""
    from consentcam.api.access_log import uvicorn_log_config
    from consentcam.api.app import check_bind_host, create_app

    if (tls_cert is None) != (tls_key is None):
        raise InputError("give both --tls-cert and --tls-key, or neither")
    check_bind_host(host, tls=tls_cert is not None, behind_proxy=behind_proxy)
    app = create_app(state.settings(**({"dev": True} if dev else {})))
    serve_until_stopped(
        app,
        host=host,
        port=port,
        log_level="info",
        # The access log without query strings: they carry look-ups and, now and then, a
        # credential pasted into a URL.
        log_config=uvicorn_log_config(),
        ssl_certfile=tls_cert,
        ssl_keyfile=tls_key,
        proxy_headers=behind_proxy,
        forwarded_allow_ips=forwarded_allow_ips if behind_proxy else None,
    )


COMMANDS: list[click.Command] = [webhook, deliver, serve]
