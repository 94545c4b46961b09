"""Network addresses: which are public, what a URL's host names without asking a resolver, and
how a URL is shown (``redacted_url``).

One classification for every place consentcam connects to an address someone else chose: webhook
receivers (``events/destinations.py``) and camera streams (``consent/camera_sources.py``). Both
refuse what is not public unless the operator lists its network, so what counts as "not public"
is decided here, once.

Beyond what :mod:`ipaddress` calls non-global, an IPv6 address that carries an IPv4 address is
classified by the IPv4 address it reaches: IPv4-mapped (``::ffff:a.b.c.d``), IPv4-compatible
(``::a.b.c.d``), NAT64 (``64:ff9b::/96``, and the local-use ``64:ff9b:1::/48`` in its /96 form)
and 6to4 (``2002::/16``): ``64:ff9b::7f00:1`` is loopback, because a translator delivers it to
127.0.0.1. The local-use NAT64 prefix (RFC 8215), site-local ``fec0::/10`` and the IETF protocol
block ``192.0.0.0/24`` are never public (Python counts all three as global).

A host name is resolved only where and when the connection is made; but some names can only be
loopback or nothing at all, whatever a resolver says (``localhost.``, ``127.0.0.1.``, ``127.1``,
``0x7f000001``, ``%72unsc``): ``literal_address`` turns the first kind into the address the system
resolver would give, and refuses the second with ``InvalidHost``, so neither is ever looked up.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from urllib.parse import urlsplit

IPAddress = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network
# host, port -> the addresses a connection could go to, in the resolver's order.
Resolver = Callable[[str, int], Sequence[IPAddress]]

# The usual camera and shop LANs (RFC 1918 and IPv6 unique local addresses).
PRIVATE_LANS: tuple[Network, ...] = (
    IPv4Network("10.0.0.0/8"),
    IPv4Network("172.16.0.0/12"),
    IPv4Network("192.168.0.0/16"),
    IPv6Network("fc00::/7"),
)
LOOPBACK_NAMES = ("localhost",)
# RFC 6761: never resolves. Refused like a malformed name, without a lookup.
INVALID_NAMES = ("invalid",)
_NAT64 = IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = IPv6Network("64:ff9b:1::/48")
_SIXTOFOUR = IPv6Network("2002::/16")
_IPV4_COMPATIBLE = IPv6Network("::/96")
_SITE_LOCAL = IPv6Network("fec0::/10")
_IETF_PROTOCOL = IPv4Network("192.0.0.0/24")
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
# The last label decides: a name ending in a number is an IPv4 address or nothing (WHATWG URL).
_NUMERIC = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)")
MAX_NAME_LENGTH = 253
_URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_SHOWN_HOST = re.compile(r"[A-Za-z0-9._:-]{1,253}")


class InvalidHost(ValueError):
    """A URL's host that no resolver could turn into an address (the message says why)."""


def unmapped(address: IPAddress) -> IPAddress:
    """``::ffff:a.b.c.d`` as the IPv4 address it is; any other address unchanged."""
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def embedded_ipv4(address: IPv6Address) -> list[tuple[str, IPv4Address]]:
    """The IPv4 address an IPv6 address carries to a translator or tunnel, with the name of
    the form; empty for a native IPv6 address."""
    packed = address.packed
    if address in _NAT64:
        return [("NAT64", IPv4Address(packed[12:]))]
    if address in _NAT64_LOCAL and not any(packed[6:12]):
        # Read in its /96 form only: with a shorter prefix the IPv4 address sits elsewhere
        # (RFC 6052), but the whole prefix is local-use and never public anyway.
        return [("local-use NAT64", IPv4Address(packed[12:]))]
    if address in _SIXTOFOUR:
        return [("6to4", IPv4Address(packed[2:6]))]
    if address in _IPV4_COMPATIBLE and int(address) > 1:  # :: and ::1 are IPv6's own
        return [("IPv4-compatible", IPv4Address(packed[12:]))]
    return []


def non_public_kind(address: IPAddress) -> str | None:
    """Why ``address`` is not a public address, as a word for messages ("loopback",
    "link-local (cloud metadata and neighbour)", "private" ...); None for a public one."""
    address = unmapped(address)
    if isinstance(address, IPv6Address):
        for form, inner in embedded_ipv4(address):
            kind = _own_kind(inner)
            if kind is not None:
                return f"{kind} (the {form} form of {inner})"
    return _own_kind(address)


def _own_kind(address: IPAddress) -> str | None:
    if address.is_loopback:
        return "loopback"
    if address.is_unspecified:  # connecting to it reaches this host
        return "unspecified"
    if address.is_link_local:
        return "link-local (cloud metadata and neighbour)"
    if isinstance(address, IPv6Address) and address in _SITE_LOCAL:
        return "site-local"
    if isinstance(address, IPv6Address) and address in _NAT64_LOCAL:
        return "local-use NAT64 (64:ff9b:1::/48)"
    if isinstance(address, IPv4Address) and address in _IETF_PROTOCOL:
        return "IETF protocol (192.0.0.0/24)"
    if address.is_private:
        return "private"
    if address.is_multicast:
        return "multicast"
    if not address.is_global:
        return "non-public"
    return None


def literal_address(host: str) -> IPAddress | None:
    """The address a URL's host names without a lookup: an IP literal (a trailing dot or an
    IPv6 zone allowed), one of the short or numeric IPv4 forms the system resolver accepts
    (``127.1``, ``0x7f000001``, ``2130706433``, ``0177.0.0.1``), or a loopback name
    (``localhost``, ``*.localhost``, with or without the trailing dot). None for a name that
    must be resolved. ``InvalidHost`` for a host no resolver could answer for."""
    text = host.strip("[]").lower()
    try:
        # A zone ("fe80::1%eth0", percent-encoded in a URL) names an interface, not a host.
        return ipaddress.ip_address(text.replace("%25", "%").split("%")[0] if ":" in text else text)
    except ValueError:
        pass
    if "%" in text:
        raise InvalidHost("a host name cannot hold '%' (percent-encoded characters)")
    name = text.removesuffix(".")
    labels = name.split(".")
    if not name or len(name) > MAX_NAME_LENGTH or not all(_LABEL.fullmatch(x) for x in labels):
        raise InvalidHost(
            "a host name is dot-separated labels of 1-63 letters, digits, '-' or '_' "
            f"(at most {MAX_NAME_LENGTH} characters)"
        )
    if _NUMERIC.fullmatch(labels[-1]):
        return _ipv4_literal(name)
    if labels[-1] in LOOPBACK_NAMES:
        return IPv4Address("127.0.0.1")
    if labels[-1] in INVALID_NAMES:
        raise InvalidHost("a name under .invalid never resolves (RFC 6761)")
    return None


def _ipv4_literal(name: str) -> IPv4Address:
    # inet_aton parses without a lookup, exactly as getaddrinfo would read a numeric host.
    try:
        return IPv4Address(socket.inet_aton(name))
    except OSError:
        raise InvalidHost("a host ending in a number must be an IPv4 address") from None


def resolved_addresses(host: str, port: int) -> list[IPAddress]:
    """The addresses ``host`` resolves to now, each once, in the resolver's order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: dict[IPAddress, None] = {}
    for *_, sockaddr in infos:
        # An IPv6 link-local address comes with its zone ("fe80::1%eth0").
        seen.setdefault(ipaddress.ip_address(str(sockaddr[0]).split("%")[0]), None)
    return list(seen)


def in_networks(address: IPAddress, networks: Sequence[Network]) -> bool:
    """Whether ``address`` (an IPv4-mapped one as its IPv4 address) lies in one of
    ``networks``."""
    address = unmapped(address)
    return any(address.version == n.version and address in n for n in networks)


def operator_allows(address: IPAddress, networks: Sequence[Network], *, dev: bool) -> bool:
    """Whether a connection to ``address`` is allowed whatever kind of address it is: it lies
    in one of the operator's ``networks``, or it is loopback and the store is a development
    one. The exception camera streams and webhook receivers share; the rest of each rule is
    their own."""
    return in_networks(address, networks) or (dev and unmapped(address).is_loopback)


def redacted_url(url: str) -> str:
    """``url`` fit to store in clear, show and log: ``scheme://host[:port]/…``, because
    credentials hide in more places than the user part and the query (``;password=``
    parameters, tokens in the path); a path or a webcam (anything not ``scheme://``) as it is.
    Camera sources are stored so, and shown and logged so everywhere."""
    scheme = _URL_SCHEME.match(url)
    if scheme is None:
        return url
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:  # an unbalanced IPv6 bracket
        host = ""
    try:
        port = f":{parts.port}" if host and parts.port is not None else ""
    except ValueError:  # a port that is not a number: a row stored before sources were checked
        port = ""
    if host and not _SHOWN_HOST.fullmatch(host):
        host = "(host)"  # nothing but an address or a name is shown, whatever an old row holds
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme.group(1).lower()}://{shown}{port}/…"
