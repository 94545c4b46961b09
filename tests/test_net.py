"""``consentcam.net``: ``redacted_url``, the one way a URL (a camera source, a database server)
is stored in clear, shown and logged; ``operator_allows``, the exception camera streams and
webhook receivers share."""

from __future__ import annotations

from ipaddress import IPv4Network, ip_address

import pytest

from consentcam.net import PRIVATE_LANS, operator_allows, redacted_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("rtsp://admin:pw@10.0.0.5:554/h264?token=abc", "rtsp://10.0.0.5:554/…"),
        ("rtsp://10.0.0.5/live;password=pw", "rtsp://10.0.0.5/…"),
        ("http://cam.local/t0k3n/video", "http://cam.local/…"),
        ("rtsp://viewer@10.0.0.9/s3cret-pw#frag", "rtsp://10.0.0.9/…"),
        ("RTSPS://[fd00::9]:322/t0k3n", "rtsps://[fd00::9]:322/…"),
        ("postgresql://app:s3cret@db.shop.lan:5432/consentcam", "postgresql://db.shop.lan:5432/…"),
    ],
)
def test_a_url_shows_scheme_host_and_port_only(url: str, shown: str) -> None:
    assert redacted_url(url) == shown


@pytest.mark.parametrize("source", ["/dev/video0", "device:1", "0", "clips/door.mp4"])
def test_paths_and_webcams_are_shown_as_they_are(source: str) -> None:
    assert redacted_url(source) == source


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("rtsp://[fd00::9/live", "rtsp:///…"),  # unbalanced bracket: no host to show
        ("rtsp://10.0.0.5:port/live", "rtsp://10.0.0.5/…"),  # a port that is not a number
        ("rtsp://c%C3%A4m.lan/live", "rtsp://(host)/…"),  # only an address or a name is shown
    ],
)
def test_malformed_urls_of_old_rows_show_no_more(url: str, shown: str) -> None:
    assert redacted_url(url) == shown


@pytest.mark.parametrize(
    ("address", "dev", "allowed"),
    [
        ("10.0.0.5", False, True),  # in the listed networks
        ("::ffff:192.168.1.20", False, True),  # IPv4-mapped: judged as its IPv4 address
        ("127.0.0.1", False, False),
        ("127.0.0.1", True, True),  # a development store may use loopback
        ("::ffff:127.0.0.1", True, True),
        ("169.254.169.254", True, False),  # cloud metadata, even in development
        ("8.8.8.8", False, False),  # public: each rule decides on its own
    ],
)
def test_the_operators_networks_and_development_loopback_are_allowed(
    address: str, dev: bool, allowed: bool
) -> None:
    assert operator_allows(ip_address(address), PRIVATE_LANS, dev=dev) is allowed


def test_no_listed_network_allows_nothing_but_development_loopback() -> None:
    assert not operator_allows(ip_address("10.0.0.5"), (), dev=True)
    assert operator_allows(ip_address("203.0.113.7"), (IPv4Network("203.0.113.0/24"),), dev=False)
