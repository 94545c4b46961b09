from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from typing import Any

import pytest

from consentcam.config import Settings
from consentcam.consent.context import open_ledger, site_by_name
from consentcam.consent.members import add_member
from consentcam.events.webhooks import DeliveryReport
from tests.support.events import Place, Receiver, record

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(run_cli: Run, store_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Run:
    """The CLI on a fresh store of each backend, with a real (non-dev) template key."""
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    monkeypatch.setenv("CONSENTCAM_TEMPLATE_KEY", key)
    monkeypatch.setenv("CONSENTCAM_ACTOR", "test:cli")
    where = (
        ["--db-url", store_settings.database_url]
        if store_settings.database_url
        else ["--data-dir", str(store_settings.data_dir)]
    )

    def run(*args: str) -> tuple[int, str, str]:
        return run_cli(*where, *args)

    assert run("init")[0] == 0
    assert run("site", "add", "flagship", "--jurisdiction", "eu")[0] == 0
    return run


def _place(store_settings: Settings) -> Place:
    """The CLI's site, with a member, for events recorded through the library."""
    ledger = open_ledger(store_settings, "test:cli")
    member = add_member(ledger, "flagship", "Ada")
    with ledger.store.transaction() as s:
        site = site_by_name(s, "flagship")
        return Place(site.tenant_id, site.id, site.name, member.id)


def test_webhook_add_list_remove(cli: Run) -> None:
    code, out, err = cli("webhook", "add", "https://staff.example.com/hook", "--site", "flagship")
    assert code == 0 and "secret: whsec_" in out and "not shown again" in out

    code, out, _ = cli("webhook", "add", "https://crm.example.com/events", "--json")
    added = json.loads(out)
    assert code == 0 and added["site"] is None and added["secret"].startswith("whsec_")

    code, out, _ = cli("webhook", "list", "--json")
    listed = json.loads(out)
    assert code == 0 and {h["site"] for h in listed} == {"flagship", None}
    assert added["secret"] not in out and "secret" not in listed[0]
    code, out, _ = cli("webhook", "list")
    assert out.count("pending=0") == 2

    code, out, _ = cli("webhook", "remove", added["webhook_id"], "--json")
    assert code == 0 and json.loads(out) == {
        "webhook_id": added["webhook_id"],
        "removed": True,
        "pending_dropped": 0,
    }
    code, out, err = cli("webhook", "remove", added["webhook_id"])
    assert code == 2 and out == "" and "no webhook" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ftp://example.com/x"], "http:// or https://"),
        (["https://example.com/x", "--site", "nowhere"], "no site named"),
        (["http://user:pw@example.com/x"], "user name or password"),
    ],
)
def test_webhook_add_refuses_bad_input_with_one_line(
    cli: Run, args: list[str], message: str
) -> None:
    code, out, err = cli("webhook", "add", *args)
    assert code == 2 and out == "" and message in err and err.count("\n") == 1


def test_deliver_once_to_a_real_receiver(
    cli: Run, store_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A production store (its key from the environment) sends to loopback only when allowed.
    code, _, err = cli("webhook", "add", "http://127.0.0.1:9/in")
    assert code == 2 and "loopback" in err
    monkeypatch.setenv("CONSENTCAM_EVENTS__WEBHOOK_ALLOWED_NETWORKS", '["127.0.0.0/8"]')
    with Receiver() as receiver:
        code, out, _ = cli("webhook", "add", receiver.url, "--json")
        receiver.secret = json.loads(out)["secret"].encode()
        record(open_ledger(store_settings, "test:cli"), _place(store_settings))
        code, out, _ = cli("deliver", "--json")
    assert code == 0
    assert json.loads(out) == {"attempted": 1, "delivered": 1, "retrying": 0, "failed": 0}
    assert len(receiver.requests) == 1 and receiver.requests[0].verified
    code, out, _ = cli("deliver")
    assert code == 0 and out.strip() == "attempted 0: delivered 0, retrying 0, failed 0"


def test_webhook_test_and_deliveries(
    cli: Run, store_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONSENTCAM_EVENTS__WEBHOOK_ALLOWED_NETWORKS", '["127.0.0.0/8"]')
    with Receiver(fail_first=1) as receiver:
        code, out, _ = cli("webhook", "add", receiver.url, "--json")
        added = json.loads(out)
        receiver.secret = added["secret"].encode()
        code, out, _ = cli("webhook", "test", added["webhook_id"])
        assert code == 0 and "not delivered: the receiver answered HTTP 500" in out
        code, out, _ = cli("webhook", "test", added["webhook_id"], "--json")
        result = json.loads(out)
        assert code == 0 and (result["delivered"], result["status_code"]) == (True, 204)
        record(open_ledger(store_settings, "test:cli"), _place(store_settings))
        assert cli("deliver")[0] == 0
    assert [r.verified for r in receiver.requests] == [True, True, True]
    code, out, _ = cli("webhook", "deliveries", added["webhook_id"], "--json")
    (row,) = json.loads(out)
    assert code == 0 and (row["event_kind"], row["status"], row["attempts"]) == (
        "recognition",
        "delivered",
        1,
    )
    code, out, _ = cli("webhook", "deliveries", added["webhook_id"], "--failures")
    assert code == 0 and out.strip() == "no deliveries"
    code, out, err = cli("webhook", "test", "nope")
    assert code == 2 and out == "" and "no webhook" in err and err.count("\n") == 1


def test_deliver_follow_prints_json_lines_until_interrupted(
    cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    from consentcam.events import webhooks

    reports = iter([DeliveryReport(1, 1, 0, 0), DeliveryReport(2, 0, 2, 0)])

    def fake_deliver_due(*args: Any, **kwargs: Any) -> DeliveryReport:
        try:
            return next(reports)
        except StopIteration:
            raise KeyboardInterrupt from None

    monkeypatch.setattr(webhooks, "deliver_due", fake_deliver_due)
    code, out, err = cli("deliver", "--follow", "--interval", "0.1", "--json")
    assert code == 0 and "stopped" in err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["attempted"] for line in lines] == [1, 2]


def test_serve_refuses_a_network_host_in_clear(cli: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = cli("serve", "--host", "0.0.0.0")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "without TLS" in err
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    assert cli("serve", "--host", "0.0.0.0", "--behind-proxy")[0] == 0
    assert calls[0]["proxy_headers"] is True and calls[0]["host"] == "0.0.0.0"


def test_serve_runs_uvicorn_on_loopback(cli: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn
    from fastapi import FastAPI

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append({"app": app, **kw}))
    code, _, err = cli("serve", "--port", "8181")
    assert code == 0, err
    assert isinstance(calls[0]["app"], FastAPI)
    assert (calls[0]["host"], calls[0]["port"]) == ("127.0.0.1", 8181)


@pytest.mark.parametrize(
    "verb",
    [
        ["webhook", "add"],
        ["webhook", "list"],
        ["webhook", "test"],
        ["webhook", "deliveries"],
        ["webhook", "remove"],
        ["deliver"],
        ["serve"],
    ],
)
def test_every_event_verb_has_help_with_an_example(run_cli: Run, verb: list[str]) -> None:
    code, out, _ = run_cli(*verb, "--help")
    assert code == 0 and "Example" in out
