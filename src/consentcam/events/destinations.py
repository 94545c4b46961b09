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
(DNS rebinding) cannot slip through.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

import httpx

from consentcam.config import Settings
from consentcam.consent.ledger import development_store

IPAddress = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network
# host, port -> the addresses a connection could go to, in the resolver's order.
Resolver = Callable[[str, int], Sequence[IPAddress]]
LOCAL_NAMES = ("localhost",)
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
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1
    if any(address in network for network in policy.allowed):
        return None
    if policy.dev and address.is_loopback:
        return None
    if not address.is_global or address.is_multicast:
        return (
            f"{address} is a {address_kind(address)} address; list its network in "
            "CONSENTCAM_EVENTS__WEBHOOK_ALLOWED_NETWORKS if it is your own receiver"
        )
    if scheme != "https" and not policy.dev:
        return HTTPS_ONLY
    return None


def address_kind(address: IPAddress) -> str:
    """A word for why an address is not public, for messages."""
    if address.is_loopback:
        return "loopback"
    if address.is_unspecified:  # connecting to it reaches this host
        return "unspecified"
    if address.is_link_local:
        return "link-local (cloud metadata and neighbour)"
    if address.is_private:
        return "private"
    if address.is_multicast:
        return "multicast"
    return "non-public"


def literal_address(host: str) -> IPAddress | None:
    """The address a URL's host names without a lookup (an IP literal, or localhost)."""
    if host.lower() in LOCAL_NAMES or host.lower().endswith(".localhost"):
        return IPv4Address("127.0.0.1")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def resolved_addresses(host: str, port: int) -> list[IPAddress]:
    """The addresses ``host`` resolves to now, each once, in the resolver's order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: dict[IPAddress, None] = {}
    for *_, sockaddr in infos:
        # An IPv6 link-local address comes with its zone ("fe80::1%eth0").
        seen.setdefault(ipaddress.ip_address(str(sockaddr[0]).split("%")[0]), None)
    return list(seen)


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
        literal = literal_address(url.host)
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
