"""The sign's QR code: the URL of the full notice, and the code as module rows, inline SVG and
PDF rectangles drawn from one matrix (so the HTML and the PDF carry the same code).

EDPB guidelines 3/2019 ask for a layered notice: the sign is the first layer, the full notice the
second, one scan away.
"""

from __future__ import annotations

from urllib.parse import urlencode, urljoin, urlsplit

import segno

from consentcam.errors import InputError

# Four modules of light margin: the quiet zone ISO/IEC 18004 asks for around the symbol.
QUIET_ZONE = 4
KIOSK_NOTICE_PATH = "kiosk/notice"


def notice_url(
    site: str, base_url: str | None, notice: str | None = None, site_id: str | None = None
) -> str:
    """The absolute URL the QR code opens: ``notice`` (absolute, or relative to ``base_url``),
    by default the kiosk's notice page for ``site`` under ``base_url``, with the site's id
    when known (site names repeat across tenants; the public notice is looked up by id).

    A phone cannot open a relative URL, so one that cannot be made absolute is refused."""
    query = {"site": site} if site_id is None else {"site": site, "site_id": site_id}
    target = notice or f"{KIOSK_NOTICE_PATH}?{urlencode(query)}"
    if _is_absolute(target):
        return _checked(target)
    if not base_url:
        raise InputError(
            f"the QR code needs an absolute URL: give a base URL (e.g. https://shop.example) "
            f"to resolve {target!r}, or an absolute notice URL"
        )
    # Keep a path prefix of the base (a deployment under https://host/consentcam/).
    return _checked(urljoin(_checked(base_url).rstrip("/") + "/", target))


def qr_rows(url: str) -> list[list[bool]]:
    """The QR code of ``url`` as rows of modules (True: dark), quiet zone included. Error
    correction level M survives a smudged or partly covered print."""
    code = segno.make(url, error="m", micro=False)
    return [[bool(v) for v in row] for row in code.matrix_iter(border=QUIET_ZONE)]


def dark_runs(rows: list[list[bool]]) -> list[tuple[int, int, int]]:
    """Horizontal runs of dark modules as (x, y, length): few shapes to draw, in SVG and PDF."""
    runs: list[tuple[int, int, int]] = []
    for y, row in enumerate(rows):
        x = 0
        while x < len(row):
            if not row[x]:
                x += 1
                continue
            start = x
            while x < len(row) and row[x]:
                x += 1
            runs.append((start, y, x - start))
    return runs


def qr_svg(url: str, title: str = "QR code: full notice") -> str:
    """An inline ``<svg>`` of the QR code for ``url``: one path, sized by CSS, crisp at any
    print resolution."""
    rows = qr_rows(url)
    size = len(rows)
    path = "".join(f"M{x} {y}h{n}v1h-{n}z" for x, y, n in dark_runs(rows))
    return (
        f'<svg class="qr" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" '
        f'role="img" aria-label="{title}" shape-rendering="crispEdges">'
        f'<rect width="{size}" height="{size}" fill="#fff"/>'
        f'<path fill="#000" d="{path}"/></svg>'
    )


def _is_absolute(url: str) -> bool:
    parts = urlsplit(url)
    return bool(parts.scheme and parts.netloc)


def _checked(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"{url!r} is not an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise InputError("a notice URL printed on a sign must not hold a user name or password")
    return url
