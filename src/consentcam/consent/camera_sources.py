"""Which sources a camera may have, and how a stream URL is shown.

A camera's source is opened by FFmpeg inside the camera worker, in the shop's network, so
whoever chooses it chooses what the worker connects to or reads. Over the API (an admin's token)
a source may only be:

- an ``rtsp://``, ``rtsps://``, ``http://`` or ``https://`` (MJPEG) stream whose host is in the
  operator's camera networks (``source.camera_networks``; by default the private LAN ranges, so
  loopback, link-local and cloud metadata, public and other addresses are refused; a development
  store may use loopback too);
- a webcam (``/dev/videoN``, ``device:N`` or ``N``);
- a local video file or image folder only where the operator allows it (``source.api_local_files``,
  or a development store).

From the CLI (the local operator, who holds the store and its key anyway) local files and folders
are fine, and other schemes are left to the worker to refuse; streams are held to the camera
networks there too, since the worker will be. Everywhere: no FFmpeg protocol prefix (``concat:``,
``pipe:``, ``data:``, ``subfile,``) and no pseudo-file (``/proc``, ``/sys``, devices other than
webcams).

The rule is applied when the camera is added (a host given as an address is checked then; a
name is not resolved, since it may only resolve where the worker runs) and again by the worker
every time it opens or reconnects the stream: a name is resolved then, every address it gives
must be allowed, and FFmpeg is handed the address that was checked, so a name that answers
differently a moment later (DNS rebinding) cannot send the worker elsewhere. Address
classification is shared with webhooks (``consentcam.net``).

Every stream URL is stored sealed, whole, under the store key (``seal_camera_source`` in
``consent/sites.py``); what is stored in clear and shown anywhere is ``net.redacted_url``: scheme,
host and port, because credentials hide in more places than the user part and the query
(``;password=`` parameters, tokens in the path).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit, urlunsplit

from consentcam.config import SourceSettings
from consentcam.errors import InputError, PolicyError, SourceError
from consentcam.net import (
    PRIVATE_LANS,
    InvalidHost,
    IPAddress,
    Network,
    Resolver,
    literal_address,
    non_public_kind,
    operator_allows,
    resolved_addresses,
)

STREAM_SCHEMES = ("rtsp", "rtsps", "http", "https")
DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443}
WEBCAM = re.compile(r"^(?:device:|/dev/video)?(\d+)$")
URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# What FFmpeg reads as a protocol rather than a file name: "name:" (two letters or more, so a
# Windows drive "C:" stays a path), and subfile's "subfile,,start,...".
PROTOCOL = re.compile(r"^(?:([A-Za-z][A-Za-z0-9+.-]+):|(subfile),)")
PSEUDO_ROOTS = ("/proc", "/sys", "/dev")
NETWORKS_SETTING = "CONSENTCAM_SOURCE__CAMERA_NETWORKS"
FILES_SETTING = "CONSENTCAM_SOURCE__API_LOCAL_FILES"
ACCEPTED_OVER_API = (
    "over the API a camera source is an rtsp://, rtsps://, http:// or https:// stream or a "
    "webcam (/dev/videoN)"
)


@dataclass(frozen=True, slots=True)
class SourcePolicy:
    """The operator's rule for camera sources."""

    networks: tuple[Network, ...] = PRIVATE_LANS
    dev: bool = False  # a development store: loopback streams, and local files over the API
    api_files: bool = False


def source_policy(settings: SourceSettings, *, dev: bool) -> SourcePolicy:
    return SourcePolicy(tuple(settings.camera_networks), dev, settings.api_local_files)


@dataclass(frozen=True, slots=True)
class StreamTarget:
    """A stream URL's parts that decide where it connects."""

    parts: SplitResult
    scheme: str
    host: str  # ASCII (IDNA), lower case, IPv6 without brackets
    port: int | None
    address: IPAddress | None  # the address the host names without a lookup, if it does


def is_url(source: str) -> bool:
    """Whether ``source`` is a URL (``scheme://...``) rather than a path or a webcam."""
    return URL.match(source) is not None


def check_registration(source: str, policy: SourcePolicy, *, over_api: bool) -> None:
    """Refuse ``source`` for a new camera: ``InputError`` for what is malformed or a protocol
    FFmpeg would read, ``PolicyError`` for what the rule forbids (see the module)."""
    what = "camera source"
    if WEBCAM.match(source):
        return
    scheme = URL.match(source)
    if scheme is not None:
        name = scheme.group(1).lower()
        if name in STREAM_SCHEMES:
            target = stream_target(source, what)
            if target.address is not None:
                reason = address_refusal(policy, target.address)
                if reason is not None:
                    raise PolicyError(f"{what}: {reason}")
            return
        if name == "file":
            _check_local(urlsplit(source).path, policy, over_api=over_api)
            return
        if over_api:
            raise InputError(f"{what}: scheme {name[:20]!r} is not accepted; {ACCEPTED_OVER_API}")
        return  # the worker refuses what it cannot open, and says so
    _check_protocol(source, what)
    _check_local(source, policy, over_api=over_api)


def _check_local(path: str, policy: SourcePolicy, *, over_api: bool) -> None:
    what = "camera source"
    if over_api and not (policy.api_files or policy.dev):
        raise PolicyError(
            f"{what}: local files and folders are camera sources only from the CLI, unless the "
            f"operator sets {FILES_SETTING}=true; {ACCEPTED_OVER_API}"
        )
    if is_pseudo_file(os.path.abspath(path)):
        raise PolicyError(f"{what}: {PSEUDO_FILES}")


PSEUDO_FILES = (
    "files under /proc and /sys and devices other than webcams (/dev/videoN) are pseudo-files, "
    "not video: refused"
)


def _check_protocol(source: str, what: str) -> None:
    protocol = PROTOCOL.match(source)
    if protocol is not None:
        name = (protocol.group(1) or protocol.group(2)).lower()[:20]
        raise InputError(
            f"{what}: FFmpeg would read this as its {name!r} protocol, not a file; give a "
            "stream URL, a webcam or a file path (./ in front of a file name with a colon)"
        )


def is_pseudo_file(path: str) -> bool:
    """Whether an absolute, normalised ``path`` lies under /proc, /sys or /dev (a webcam is
    matched before this is asked)."""
    return any(path == root or path.startswith(root + "/") for root in PSEUDO_ROOTS)


def stream_target(url: str, what: str) -> StreamTarget:
    """The parts of a stream URL that decide where it connects; ``InputError`` naming the rule
    if there is no usable host or port."""
    try:
        parts = urlsplit(url)
        hostname = parts.hostname or ""
    except ValueError:
        raise InputError(f"{what}: not a valid URL (check the brackets of an IPv6 host)") from None
    try:
        port = parts.port
    except ValueError:
        raise InputError(f"{what}: the stream URL's port is not a number from 1 to 65535") from None
    if port == 0:
        raise InputError(f"{what}: the stream URL's port is not a number from 1 to 65535")
    if not hostname:
        raise InputError(f"{what}: a stream URL needs a host")
    try:
        host = hostname if hostname.isascii() else hostname.encode("idna").decode("ascii")
        address = literal_address(host)
    except (InvalidHost, UnicodeError) as exc:
        reason = exc if isinstance(exc, InvalidHost) else "not a valid international name"
        raise InputError(f"{what}: stream URL host: {reason}") from None
    return StreamTarget(parts, parts.scheme.lower(), host, port, address)


def address_refusal(policy: SourcePolicy, address: IPAddress) -> str | None:
    """Why a stream at ``address`` is refused; None if the worker may connect to it."""
    if operator_allows(address, policy.networks, dev=policy.dev):
        return None
    kind = non_public_kind(address)
    return (
        f"{address} is a {kind or 'public'} address, outside the camera networks; list its "
        f"network in {NETWORKS_SETTING} if your cameras are there"
    )


def checked_stream_url(
    url: str, policy: SourcePolicy, what: str, resolve: Resolver = resolved_addresses
) -> str:
    """The URL for FFmpeg to open: ``url`` itself when its host is an allowed address, or with
    its host name replaced by the first address it resolves to now, once every address it
    resolves to is allowed. ``PolicyError`` when one is refused; ``SourceError`` when the name
    does not resolve."""
    target = stream_target(url, what)
    if target.address is not None:
        reason = address_refusal(policy, target.address)
        if reason is not None:
            raise PolicyError(f"{what}: {reason}")
        return url
    try:
        addresses = list(resolve(target.host, target.port or DEFAULT_PORTS[target.scheme]))
    except OSError as exc:  # socket.gaierror: no such name, no resolver reachable
        raise SourceError(f"{what}: stream host {target.host} does not resolve ({exc})") from None
    if not addresses:
        raise SourceError(f"{what}: stream host {target.host} does not resolve")
    for address in addresses:
        reason = address_refusal(policy, address)
        if reason is not None:
            raise PolicyError(f"{what}: stream host {target.host} resolves to {reason}")
    return pinned_url(target, addresses[0])


def pinned_url(target: StreamTarget, address: IPAddress) -> str:
    """The stream URL with its host replaced by ``address`` (user, port, path and query kept)."""
    userinfo, at, _ = target.parts.netloc.rpartition("@")
    host = f"[{address}]" if address.version == 6 else str(address)
    port = f":{target.port}" if target.port is not None else ""
    return urlunsplit(target.parts._replace(netloc=f"{userinfo}{at}{host}{port}"))


def check_local_path(path: str, what: str) -> str:
    """``path`` as FFmpeg should open it (absolute, links resolved, so no part of it is read as
    a protocol); ``InputError`` for a protocol prefix, ``PolicyError`` for a pseudo-file."""
    _check_protocol(path, what)
    try:
        resolved = os.path.realpath(path)
    except (ValueError, UnicodeError):  # NUL, an unpaired surrogate: no file has such a name
        raise InputError(f"{what}: not a file name this system can open") from None
    if is_pseudo_file(resolved):
        raise PolicyError(f"{what}: {PSEUDO_FILES}")
    return resolved
