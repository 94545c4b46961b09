"""Webhook receivers must be public addresses over https, unless the operator lists their network
(or, in development, they are on loopback): checked when a webhook is added and on every
delivery, against the address the request then really goes to."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network

import httpx
import pytest
from sqlalchemy import func, select, update

from consentcam.config import EventSettings
from consentcam.consent.context import DEV_KEY_FILE, Ledger
from consentcam.errors import InputError, PolicyError
from consentcam.events.destinations import (
    DestinationPolicy,
    IPAddress,
    PinnedTransport,
    RefusedDestination,
    UnresolvedDestination,
    literal_address,
    refusal,
    resolved_addresses,
    webhook_client,
)
from consentcam.events.webhooks import add_webhook, deliver_due
from consentcam.store.models import Delivery, Webhook
from tests.support.events import Receiver, place, record

PUBLIC = "93.184.215.14"
PRODUCTION = DestinationPolicy()


def _policy(*networks: str, dev: bool = False) -> DestinationPolicy:
    allowed: tuple[IPv4Network | IPv6Network, ...] = tuple(ip_network(n) for n in networks)
    return DestinationPolicy(allowed, dev)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped: the IPv4 rule applies
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("fd12::1", "private"),
        ("169.254.169.254", "link-local"),  # cloud metadata
        ("fe80::1", "link-local"),
        ("100.64.0.1", "non-public"),  # carrier-grade NAT
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
    ],
)
def test_addresses_that_are_not_public_are_refused(address: str, kind: str) -> None:
    reason = refusal(PRODUCTION, ip_address(address), "https")
    assert reason is not None and kind in reason
    assert "WEBHOOK_ALLOWED_NETWORKS" in reason  # the message says how to allow one's own


def test_public_receivers_need_https_outside_development() -> None:
    public = ip_address(PUBLIC)
    assert refusal(PRODUCTION, public, "https") is None
    assert "https" in (refusal(PRODUCTION, public, "http") or "")
    assert refusal(_policy(dev=True), public, "http") is None


def test_listed_networks_and_development_loopback_are_allowed() -> None:
    relay = _policy("10.20.0.0/16")
    assert refusal(relay, ip_address("10.20.3.4"), "http") is None  # the shop's own relay
    assert refusal(relay, ip_address("10.21.0.1"), "https") is not None  # next door is not
    assert refusal(relay, ip_address("127.0.0.1"), "https") is not None
    assert refusal(_policy(dev=True), ip_address("127.0.0.1"), "http") is None
    assert refusal(_policy(dev=True), ip_address("169.254.169.254"), "http") is not None


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("localhost", "127.0.0.1"),
        ("app.localhost", "127.0.0.1"),
        ("10.0.0.1", "10.0.0.1"),
        ("::1", "::1"),
        ("hooks.example", None),
    ],
)
def test_literal_addresses(host: str, address: str | None) -> None:
    found = literal_address(host)
    assert (str(found) if found else None) == address


def test_the_system_resolver_gives_each_address_once() -> None:
    found = resolved_addresses("localhost", 443)
    assert found and all(a.is_loopback for a in found) and len(found) == len(set(found))
    with pytest.raises(socket.gaierror):
        resolved_addresses("no-such-host.invalid", 443)


class _Resolver:
    """A fake DNS: each lookup returns the next answer."""

    def __init__(self, *answers: Sequence[str]) -> None:
        self.answers = [[ip_address(a) for a in answer] for answer in answers]
        self.asked: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.asked.append((host, port))
        if not self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.answers.pop(0)


def _pinned(
    policy: DestinationPolicy, resolver: _Resolver, sent: list[httpx.Request]
) -> httpx.Client:
    def receive(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(204)

    transport = PinnedTransport(
        policy, resolve=resolver, transport=lambda: httpx.MockTransport(receive)
    )
    return httpx.Client(transport=transport)


def test_a_request_goes_to_the_checked_address_under_its_own_name() -> None:
    sent: list[httpx.Request] = []
    resolver = _Resolver(["10.0.0.5", PUBLIC])  # a private answer first: skipped, not used
    with _pinned(PRODUCTION, resolver, sent) as client:
        assert client.post("https://hooks.example/in", content=b"{}").status_code == 204
    (request,) = sent
    assert request.url.host == PUBLIC and request.url.path == "/in"
    assert request.headers["host"] == "hooks.example"
    assert request.extensions["sni_hostname"] == "hooks.example"  # certificates checked by name
    assert resolver.asked == [("hooks.example", 443)]


def test_a_name_that_rebinds_to_a_private_address_is_refused_on_that_delivery() -> None:
    sent: list[httpx.Request] = []
    resolver = _Resolver([PUBLIC], ["169.254.169.254"])
    with _pinned(PRODUCTION, resolver, sent) as client:
        client.post("https://hooks.example/in")
        with pytest.raises(RefusedDestination, match="link-local"):
            client.post("https://hooks.example/in")
        with pytest.raises(UnresolvedDestination, match="does not resolve"):
            client.post("https://hooks.example/in")
    assert [r.url.host for r in sent] == [PUBLIC]


def _production(ledger: Ledger, *networks: str) -> Ledger:
    """The ledger as a production deployment's: no dev mode, and its key (already loaded) no
    longer in a development key file beside the store."""
    (ledger.settings.data_dir / DEV_KEY_FILE).unlink(missing_ok=True)
    events = EventSettings(webhook_allowed_networks=tuple(ip_network(n) for n in networks))
    settings = ledger.settings.model_copy(update={"dev": False, "events": events})
    return dataclasses.replace(ledger, settings=settings)


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254/latest/meta-data/",
        "https://127.0.0.1:5432/",
        "https://localhost/admin",
        "https://[::ffff:10.0.0.1]/",
        "http://hooks.example/in",  # a name over http: no allowed network it could be in
    ],
)
def test_adding_a_webhook_to_a_refused_destination_stores_nothing(ledger: Ledger, url: str) -> None:
    place(ledger)
    with pytest.raises(PolicyError, match="webhook URL"):
        add_webhook(_production(ledger), url)
    with ledger.store.transaction() as s:
        assert s.execute(select(func.count()).select_from(Webhook)).scalar_one() == 0


def test_an_operator_listed_network_may_receive_over_http(ledger: Ledger) -> None:
    place(ledger)
    relay = _production(ledger, "10.20.0.0/16")
    add_webhook(relay, "http://10.20.0.7:8080/alerts")
    add_webhook(relay, "http://relay.shop.lan/alerts")  # its address is checked on delivery
    with pytest.raises(PolicyError, match="private"):
        add_webhook(relay, "http://10.30.0.7/alerts")


def test_a_refused_delivery_is_recorded_and_retried_never_sent(
    ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    where = place(ledger)
    production = _production(ledger)
    add_webhook(production, "https://hooks.example/in")
    record(production, where)
    sent: list[httpx.Request] = []
    with _pinned(PRODUCTION, _Resolver(["10.9.8.7"]), sent) as client:
        report = deliver_due(production, client)
    assert report.retrying == 1 and sent == []
    with ledger.store.transaction() as s:
        delivery = s.execute(select(Delivery)).scalar_one()
    assert delivery.last_error == "RefusedDestination" and delivery.status == "pending"
    assert "10.9.8.7 is a private address" in caplog.text  # the operator sees why


def test_the_delivery_client_reaches_a_development_loopback_receiver(ledger: Ledger) -> None:
    where = place(ledger)
    with Receiver() as receiver:
        _, secret = add_webhook(ledger, receiver.url)
        receiver.secret = secret.encode()
        record(ledger, where)
        with webhook_client(ledger.settings) as client:
            assert deliver_due(ledger, client).delivered == 1
    (got,) = receiver.requests
    assert got.verified and got.headers["Host"] == receiver.url.split("/")[2]


# --- review round 2 (issue 13) ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("64:ff9b::7f00:1", "loopback"),  # NAT64 of 127.0.0.1
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of the metadata service
        ("64:ff9b:1::a00:1", "private"),  # local-use NAT64 of 10.0.0.1 (RFC 8215, /96)
        ("64:ff9b:1:808:0:808::", "local-use NAT64"),  # 8.8.8.8 at the /48 position: local-use
        ("2002:7f00:1::1", "loopback"),  # 6to4 of 127.0.0.1
        ("2002:a9fe:a9fe::", "link-local"),  # 6to4 of 169.254.169.254
        ("::7f00:1", "loopback"),  # IPv4-compatible ::127.0.0.1
        ("::a00:1", "private"),  # IPv4-compatible ::10.0.0.1
        ("fec0::1", "site-local"),
        ("192.0.0.9", "IETF protocol"),
        ("192.0.0.170", "IETF protocol"),
    ],
)
def test_translated_and_special_addresses_are_classified_by_what_they_reach(
    address: str, kind: str
) -> None:
    reason = refusal(PRODUCTION, ip_address(address), "https")
    assert reason is not None and kind in reason


@pytest.mark.parametrize("address", ["64:ff9b::808:808", "2002:808:808::1", "2606:4700::1111"])
def test_translations_of_public_addresses_stay_public(address: str) -> None:
    assert refusal(PRODUCTION, ip_address(address), "https") is None


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("localhost.", "127.0.0.1"),
        ("app.localhost.", "127.0.0.1"),
        ("LOCALHOST", "127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),  # a trailing dot does not make an address a name
        ("127.1", "127.0.0.1"),  # what the system resolver makes of inet_aton's short forms
        ("0x7f000001", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("hooks.example.", None),
    ],
)
def test_literal_forms_the_resolver_would_turn_into_addresses(
    host: str, address: str | None
) -> None:
    found = literal_address(host)
    assert (str(found) if found else None) == address


def _no_lookups(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Records every name the system resolver is asked for (and answers none)."""
    asked: list[object] = []

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> list[object]:
        asked.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


@pytest.mark.parametrize(
    "url",
    [
        "https://localhost./in",
        "https://127.0.0.1./in",
        "https://app.localhost./in",
        "https://127.1/in",
        "https://0x7f000001/in",
        "https://2130706433/in",
        "https://[64:ff9b::7f00:1]/in",
    ],
)
def test_names_that_can_only_be_loopback_are_refused_without_a_lookup(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    place(ledger)
    asked = _no_lookups(monkeypatch)
    with pytest.raises(PolicyError, match="loopback"):
        add_webhook(_production(ledger), url)
    assert asked == []
    with ledger.store.transaction() as s:
        assert s.execute(select(func.count()).select_from(Webhook)).scalar_one() == 0


@pytest.mark.parametrize(
    "url",
    [
        "https://%72unsc/in",  # percent-encoded: no DNS name holds a '%'
        "https://hooks%2eexample/in",
        "https://a..example/in",
        "https://.example/in",
        "https://under_score!.example/in",
        "https://1.2.3.4.5/in",  # ends in a number: an address or nothing
        "https://999.0.0.1/in",
        "https://hooks.invalid/in",  # RFC 6761: never resolves
        "https://" + "a" * 64 + ".example/in",
    ],
)
def test_names_that_can_only_be_invalid_are_refused_without_a_lookup(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    place(ledger)
    asked = _no_lookups(monkeypatch)
    with pytest.raises(InputError, match=r"host|not a valid URL"):  # httpx refuses some itself
        add_webhook(ledger, url)
    assert asked == []
    with ledger.store.transaction() as s:
        assert s.execute(select(func.count()).select_from(Webhook)).scalar_one() == 0


def test_a_stored_loopback_only_name_is_refused_on_delivery_without_a_lookup(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A webhook stored before names were checked at registration: its deliveries are refused
    by the same rule, and the resolver is never asked."""
    where = place(ledger)
    production = _production(ledger)
    hook, _ = add_webhook(production, "https://hooks.example/in")
    with ledger.store.transaction() as s:
        s.execute(update(Webhook).where(Webhook.id == hook.id).values(url="https://127.0.0.1./in"))
    record(production, where)
    asked = _no_lookups(monkeypatch)
    with webhook_client(production.settings) as client:
        report = deliver_due(production, client)
    assert report.retrying == 1 and asked == []
    with ledger.store.transaction() as s:
        assert s.execute(select(Delivery.last_error)).scalar_one() == "RefusedDestination"
