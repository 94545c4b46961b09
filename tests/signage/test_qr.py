from __future__ import annotations

import re

import cv2
import numpy as np
import pytest

from consentcam.errors import InputError
from consentcam.signage.qr import dark_runs, notice_url, qr_rows, qr_svg


def decode(rows: list[list[bool]]) -> str:
    """Decode a QR module matrix with OpenCV (8 pixels per module)."""
    image = np.array([[0 if dark else 255 for dark in row] for row in rows], dtype=np.uint8)
    text, _, _ = cv2.QRCodeDetector().detectAndDecode(np.kron(image, np.ones((8, 8), np.uint8)))
    return str(text)


def svg_rows(svg: str) -> list[list[bool]]:
    """The module matrix drawn by ``qr_svg``'s path (runs of ``M x y h n``)."""
    size = int(re.search(r'viewBox="0 0 (\d+) \d+"', svg).group(1))  # type: ignore[union-attr]
    rows = [[False] * size for _ in range(size)]
    for x, y, n in re.findall(r"M(\d+) (\d+)h(\d+)", svg):
        for i in range(int(n)):
            rows[int(y)][int(x) + i] = True
    return rows


def test_default_url_is_the_kiosk_notice_page_under_the_base_url() -> None:
    assert notice_url("flag ship", "https://shop.example") == (
        "https://shop.example/kiosk/notice?site=flag+ship"
    )
    # With the site's id, which the public notice is looked up by (names repeat across tenants).
    assert notice_url("a", "https://shop.example", site_id="9f3c") == (
        "https://shop.example/kiosk/notice?site=a&site_id=9f3c"
    )
    # A deployment under a path prefix keeps it.
    assert (
        notice_url("a", "https://shop.example/cc/") == "https://shop.example/cc/kiosk/notice?site=a"
    )


def test_notice_url_absolute_or_relative_to_the_base() -> None:
    assert notice_url("a", None, "https://acme.example/privacy") == "https://acme.example/privacy"
    assert notice_url("a", "https://shop.example/cc", "/privacy") == "https://shop.example/privacy"


@pytest.mark.parametrize(
    ("base", "notice", "message"),
    [
        (None, None, "absolute URL"),
        (None, "/privacy", "absolute URL"),
        ("ftp://shop.example", None, "http"),
        ("https://user:pw@shop.example", None, "user name"),
        ("shop.example", None, "http"),
    ],
)
def test_unusable_urls_are_refused(base: str | None, notice: str | None, message: str) -> None:
    with pytest.raises(InputError, match=message):
        notice_url("a", base, notice)


def test_qr_code_decodes_back_to_the_url() -> None:
    url = notice_url("flagship", "https://shop.example")
    assert decode(qr_rows(url)) == url


def test_inline_svg_draws_the_same_code() -> None:
    url = "https://shop.example/kiosk/notice?site=north"
    svg = qr_svg(url)
    assert svg.startswith("<svg") and 'xmlns="http://www.w3.org/2000/svg"' in svg
    assert svg_rows(svg) == qr_rows(url)
    assert decode(svg_rows(svg)) == url


def test_dark_runs_cover_exactly_the_dark_modules() -> None:
    rows = [[False, True, True, False, True], [True, True, True, True, True]]
    assert dark_runs(rows) == [(1, 0, 2), (4, 0, 1), (0, 1, 5)]
    assert dark_runs([]) == []
