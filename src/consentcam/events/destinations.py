"""Where webhook deliveries may go.

A webhook's URL is chosen by a tenant's admin, but the deliverer runs inside the shop's or the
operator's network. Unchecked, an admin could make it POST to the database host, a router's
admin page or a cloud metadata service (server-side request forgery), or send members' names
and purchases across the internet in clear. So a receiver must be a public address reached over
https, unless the operator lists its network (``events.webhook_allowed_networks``, e.g. a
store's own alert relay on the LAN, where http is allowed too); in development a loopback
receiver is allowed as well, over either scheme.

The rule is applied twice: when a webhook is added, to an address the URL names literally (a
name is not resolved then: it may only resolve where the deliverer runs), and on every delivery,
to the addresses the host resolves to at that moment. The request then goes to the address that
passed (the Host header and the TLS server name stay the URL's host, so certificates are checked
against the name), so a name that resolves differently between the check and the connection
(DNS rebinding) cannot slip through. Names that can only be loopback or nothing (``localhost.``,
``127.0.0.1.``, ``%72unsc``) are never handed to the resolver (``consentcam.net``, which also
decides what counts as public, for camera streams too).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx

from consentcam.config import Settings
from consentcam.consent.context import development_store
from consentcam.net import (
    InvalidHost,
    IPAddress,
    Network,
    Resolver,
    literal_address,
    non_public_kind,
    operator_allows,
    resolved_addresses,
    unmapped,
)

__all__ = [  # the names tests and the webhook module use, some of them from consentcam.net
    "DestinationPolicy",
    "IPAddress",
    "PinnedTransport",
    "RefusedDestination",
    "UnresolvedDestination",
    "destination_policy",
    "literal_address",
    "refusal",
    "resolved_addresses",
    "webhook_client",
]

DEFAULT_PORTS = {"http": 80, "https": 443}
HTTPS_ONLY = "events leave this network only over https (they name members and their purchases)"


@dataclass(frozen=True, slots=True)
class DestinationPolicy:
    allowed: tuple[Network, ...] = ()
    dev: bool = False


def destination_policy(settings: Settings) -> DestinationPolicy:
    """The operator's allowed networks; loopback too for a development store."""
    return DestinationPolicy(
        tuple(settings.events.webhook_allowed_networks), development_store(settings)
    )


def refusal(policy: DestinationPolicy, address: IPAddress, scheme: str) -> str | None:
    """Why a receiver at ``address`` reached over ``scheme`` is refused; None if it may be sent
    to."""
    address = unmapped(address)  # ::ffff:10.0.0.1 is 10.0.0.1
    if operator_allows(address, policy.allowed, dev=policy.dev):
        return None
    kind = non_public_kind(address)
    if kind is not None:
        return (
            f"{address} is a {kind} address; list its network in "
            "CONSENTCAM_EVENTS__WEBHOOK_ALLOWED_NETWORKS if it is your own receiver"
        )
    if scheme != "https" and not policy.dev:
        return HTTPS_ONLY
    return None


class RefusedDestination(httpx.TransportError):
    """The receiver's address is not one events may be sent to (see the module's rule)."""


class UnresolvedDestination(httpx.TransportError):
    """The receiver's host name does not resolve now."""


class PinnedTransport(httpx.BaseTransport):
    """Sends each request to an address of its host that the policy allows, and nowhere else.

    One inner transport per host name (made by ``transport``), so a connection opened and
    verified for one name is never reused for another name that resolves to the same address.
    Proxies from the environment are not used: the receiver's address is what is checked."""

    def __init__(
        self,
        policy: DestinationPolicy,
        *,
        resolve: Resolver = resolved_addresses,
        transport: Callable[[], httpx.BaseTransport] = lambda: httpx.HTTPTransport(),
    ) -> None:
        self.policy = policy
        self.resolve = resolve
        self.make_transport = transport
        self.transports: dict[str, httpx.BaseTransport] = {}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        host = url.host
        address = self.allowed_address(request)
        request.url = url.copy_with(host=str(address))
        if url.scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": host}
        if host not in self.transports:
            self.transports[host] = self.make_transport()
        return self.transports[host].handle_request(request)

    def allowed_address(self, request: httpx.Request) -> IPAddress:
        url = request.url
        try:
            literal = literal_address(url.raw_host.decode("ascii"))
        except InvalidHost as exc:  # stored before such names were refused: never looked up
            raise RefusedDestination(f"webhook receiver: {exc}", request=request) from None
        if literal is not None:
            candidates: Sequence[IPAddress] = [literal]
        else:
            try:
                candidates = self.resolve(url.host, url.port or DEFAULT_PORTS[url.scheme])
            except OSError as exc:  # socket.gaierror: no such name, no resolver reachable
                raise UnresolvedDestination(
                    f"{url.host} does not resolve ({exc})", request=request
                ) from None
        reasons = [refusal(self.policy, address, url.scheme) for address in candidates]
        for address, reason in zip(candidates, reasons, strict=True):
            if reason is None:
                return address
        raise RefusedDestination(
            f"webhook receiver {url.host}: {reasons[0] if reasons else 'no address'}",
            request=request,
        )

    def close(self) -> None:
        for transport in self.transports.values():
            transport.close()
        self.transports.clear()


def webhook_client(settings: Settings) -> httpx.Client:
    """The HTTP client deliveries are sent with: only to receivers the policy allows."""
    return httpx.Client(transport=PinnedTransport(destination_policy(settings)))
