"""The sign as one self-contained HTML page: inline CSS, the QR code as inline SVG, no script,
font file or any other external resource, so it prints the same offline, from a kiosk or a
browser's "save as PDF". Large type; A4 or Letter page rules for printing."""

from __future__ import annotations

from html import escape

from consentcam.consent.profiles import Profile
from consentcam.signage.content import Block, Sign, SignOptions, SignSite, sign_content
from consentcam.signage.qr import qr_svg

# Chinese text uses whichever of these the printing machine has (never downloaded).
CJK_FONTS = '"Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", '
CSS = """
@page { size: %(page)s portrait; margin: 10mm; }
* { box-sizing: border-box; }
html { font-family: "DejaVu Sans", Arial, Helvetica, %(cjk)s sans-serif; color: #000;
  background: #fff; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { margin: 0; }
.sheet { width: %(width)s; min-height: %(height)s; margin: 0 auto; padding: 9mm;
  border: 1.2mm solid #000; display: flex; flex-direction: column; gap: 4mm; }
h1 { font-size: 34pt; line-height: 1.1; margin: 0; }
h1.zh { font-size: 44pt; }
.statement { font-size: 17pt; font-weight: bold; line-height: 1.3; margin: 0;
  padding: 3mm 4mm; background: #ffd400; border-radius: 2mm; }
.blocks { display: grid; grid-template-columns: 1fr 1fr; gap: 3mm 8mm; }
section h2 { font-size: 14pt; margin: 0 0 1mm; border-bottom: 0.6mm solid #000; }
section ul { margin: 0; padding-left: 5mm; font-size: 12pt; line-height: 1.3; }
.notice { display: flex; align-items: center; gap: 6mm; margin-top: auto; font-size: 13pt; }
.notice svg.qr { width: 42mm; height: 42mm; flex: none; }
.notice a { color: #000; word-break: break-all; }
.placement { font-size: 9pt; margin: 0; }
.prominent .sheet { border-width: 3mm; }
.prominent h1 { font-size: 42pt; }
.prominent h1.zh { font-size: 60pt; }
.prominent .statement { font-size: 22pt; }
.prominent section h2 { font-size: 16pt; }
.prominent section ul { font-size: 13.5pt; }
.prominent .notice svg.qr { width: 50mm; height: 50mm; }
@media screen { body { background: #ddd; padding: 8mm 0; } .sheet { background: #fff; } }
@media print { .sheet { width: auto; min-height: %(print_height)s; } }
"""
# Page sizes (width, height) and the printable height inside the @page margins.
PAGES = {"a4": ("210mm", "297mm", "272mm"), "letter": ("8.5in", "11in", "254mm")}


def sign_html(site: SignSite, profile: Profile, options: SignOptions) -> str:
    """The printable sign for ``site`` under ``profile``, as one HTML document."""
    return render_html(sign_content(site, profile, options))


def render_html(sign: Sign) -> str:
    width, height, print_height = PAGES[sign.paper]
    css = CSS % {
        "page": "A4" if sign.paper == "a4" else "letter",
        "cjk": CJK_FONTS,
        "width": width,
        "height": height,
        "print_height": print_height,
    }
    body_class = "sign prominent" if sign.prominent else "sign"
    headings = "".join(
        [
            f'<h1 class="zh" lang="zh-Hans">{escape(sign.heading_zh)}</h1>'
            if sign.heading_zh
            else "",
            f"<h1>{escape(sign.heading)}</h1>",
        ]
    )
    blocks = "".join(_block_html(b) for b in sign.blocks)
    url = escape(sign.notice_url)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(sign.heading)}: {escape(sign.site)}</title>\n"
        f"<style>{css}</style>\n</head>\n"
        f'<body class="{body_class}" data-profile="{escape(sign.profile)}">\n'
        f'<main class="sheet">\n<header>{headings}</header>\n'
        f'<p class="statement">{_bilingual(sign.statement)}</p>\n'
        f'<div class="blocks">{blocks}</div>\n'
        f'<div class="notice">{qr_svg(sign.notice_url)}'
        f'<p>{escape(sign.notice_caption)}<br><a href="{url}">{url}</a></p></div>\n'
        f'<p class="placement">{escape(sign.placement)} Source: {escape(sign.source)}.</p>\n'
        "</main>\n</body>\n</html>\n"
    )


def _block_html(block: Block) -> str:
    zh = f'<span lang="zh-Hans">{escape(block.title_zh)}</span> ' if block.title_zh else ""
    items = "".join(f"<li>{escape(line)}</li>" for line in block.lines)
    return f"<section><h2>{zh}{escape(block.title)}</h2><ul>{items}</ul></section>"


def _bilingual(text: str) -> str:
    """``text`` escaped, with its Chinese runs marked ``lang="zh-Hans"`` (font choice, screen
    readers)."""
    from consentcam.signage.fonts import split_cjk

    return "".join(
        f'<span lang="zh-Hans">{escape(run)}</span>' if cjk else escape(run)
        for run, cjk in split_cjk(text)
    )
