"""The sign as a one-page PDF (fpdf2): the same content as the HTML sign, the QR code drawn as
vector rectangles, large type shrunk step by step only as far as needed to fit one page.

Without a font that has Chinese glyphs (see ``consentcam.signage.fonts``) a PIPL 26 sign's
Chinese is left out of the PDF, which then says that the bilingual sign is the HTML version.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import MethodReturnValue, XPos, YPos

from consentcam import __version__
from consentcam.consent.profiles import Profile
from consentcam.errors import InputError
from consentcam.signage.content import Block, Sign, SignOptions, SignSite, sign_content
from consentcam.signage.fonts import CJK, cjk_font, strip_cjk, text_fonts
from consentcam.signage.qr import qr_rows

PT = 25.4 / 72  # millimetres per point
MARGIN = 16.0  # mm, inside the frame
FRAME = 8.0  # mm from the paper's edge
GUTTER = 8.0
QR_MM = 44.0
# Type sizes in points at scale 1; the prominent (PIPL 26) sign multiplies them.
SIZES = {"zh": 46.0, "heading": 30.0, "statement": 17.0, "title": 14.0, "line": 12.0}
PROMINENT = 1.2
MIN_SCALE, MAX_TRIES = 0.5, 8
NO_CJK_NOTE = (
    "English-only print: no Chinese font was found when this PDF was made. The bilingual "
    "Chinese/English sign (PIPL art. 26) is the HTML version of this sign."
)


@dataclass(frozen=True, slots=True)
class _Type:
    family: str
    unicode: bool  # False: a core PDF font, Latin-1 only
    cjk: bool  # a fallback font with Chinese glyphs is loaded


def sign_pdf(site: SignSite, profile: Profile, options: SignOptions) -> bytes:
    """The printable sign for ``site`` under ``profile``, as the bytes of a one-page PDF."""
    sign = sign_content(site, profile, options)
    cjk = (options.cjk_font or cjk_font()) if needs_cjk(sign) else None
    scale = 1.0
    for _ in range(MAX_TRIES):
        pdf, fill = _render(sign, scale, cjk)
        try:
            if fill <= 1.0:
                return bytes(pdf.output())
        finally:
            _close(pdf)
        if scale == MIN_SCALE:
            break
        # The page fills about in proportion to the type size (the QR code is fixed): jump
        # close to the fitting scale, then creep down.
        scale = max(MIN_SCALE, scale * min(0.97, 0.99 / fill))
    raise InputError("the sign's text does not fit one page; shorten --controller or --contact")


def needs_cjk(sign: Sign) -> bool:
    """Whether the sign has Chinese text (the PIPL 26 bilingual sign)."""
    texts = [sign.heading_zh or "", sign.statement, *(b.title_zh or "" for b in sign.blocks)]
    return any(CJK.search(t) for t in texts)


def _render(sign: Sign, scale: float, cjk: Path | None) -> tuple[FPDF, float]:
    """The sign at ``scale``, and how full the page is (above 1: it does not fit, and the
    document is left unfinished)."""
    pdf = FPDF(orientation="P", unit="mm", format="A4" if sign.paper == "a4" else "Letter")
    pdf.set_title(f"{sign.heading}: {sign.site}")
    pdf.set_creator(f"consentcam {__version__}")
    pdf.set_auto_page_break(False)
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    kind = _fonts(pdf, cjk)
    pdf.add_page()
    size = scale * (PROMINENT if sign.prominent else 1.0)
    _frame(pdf, sign.prominent)
    _headings(pdf, sign, kind, size)
    _statement(pdf, sign, kind, size)
    bottom = _blocks(pdf, sign.blocks, kind, size)
    pdf.set_y(bottom + 3)
    if not kind.cjk and needs_cjk(sign):
        _text(pdf, kind, "", SIZES["line"] * size * 0.85, NO_CJK_NOTE)
    fill = (pdf.get_y() + QR_MM + 12) / (pdf.h - MARGIN)
    if fill > 1.0:
        return pdf, fill
    _notice(pdf, sign, kind, size)
    _placement(pdf, sign, kind)
    return pdf, fill


def _close(pdf: FPDF) -> None:
    """Close the font files fpdf2 keeps open (lazily read TrueType tables)."""
    for font in pdf.fonts.values():
        close = getattr(font, "close", None)
        if close is not None:
            close()


def _fonts(pdf: FPDF, cjk: Path | None) -> _Type:
    found = text_fonts()
    if found is None:
        pdf.set_font("helvetica")
        return _Type("helvetica", unicode=False, cjk=False)
    pdf.add_font("dejavu", "", found[0])
    pdf.add_font("dejavu", "B", found[1])
    if cjk is None:
        return _Type("dejavu", unicode=True, cjk=False)
    pdf.add_font("cjk", "", cjk)
    # Bold text falls back to the regular CJK face: most CJK fonts ship one weight per file.
    pdf.set_fallback_fonts(["cjk"], exact_match=False)
    return _Type("dejavu", unicode=True, cjk=True)


def _frame(pdf: FPDF, prominent: bool) -> None:
    pdf.set_line_width(3.0 if prominent else 1.2)
    pdf.rect(FRAME, FRAME, pdf.w - 2 * FRAME, pdf.h - 2 * FRAME)


def _headings(pdf: FPDF, sign: Sign, kind: _Type, size: float) -> None:
    if sign.heading_zh and kind.cjk:
        _text(pdf, kind, "B", SIZES["zh"] * size, sign.heading_zh)
    _text(pdf, kind, "B", SIZES["heading"] * size, sign.heading)
    pdf.ln(2)


def _statement(pdf: FPDF, sign: Sign, kind: _Type, size: float) -> None:
    pdf.set_fill_color(255, 212, 0)
    _text(pdf, kind, "B", SIZES["statement"] * size, sign.statement, fill=True)
    pdf.ln(3)


def _blocks(pdf: FPDF, blocks: tuple[Block, ...], kind: _Type, size: float) -> float:
    """Blocks in two columns, split where the columns come out most even; returns the bottom."""
    width = (pdf.w - 2 * MARGIN - GUTTER) / 2
    heights = [_block(pdf, b, kind, size, width, dry_run=True) for b in blocks]
    split = min(range(len(blocks) + 1), key=lambda i: max(sum(heights[:i]), sum(heights[i:])))
    top = pdf.get_y()
    bottoms = []
    for column, part in enumerate((blocks[:split], blocks[split:])):
        pdf.set_xy(MARGIN + column * (width + GUTTER), top)
        for block in part:
            _block(pdf, block, kind, size, width, dry_run=False)
        bottoms.append(pdf.get_y())
    return max(bottoms)


def _block(
    pdf: FPDF, block: Block, kind: _Type, size: float, width: float, *, dry_run: bool
) -> float:
    """Draw ``block`` at the current position (or only measure it); returns its height."""
    x = pdf.get_x()
    title = f"{block.title_zh} {block.title}" if block.title_zh and kind.cjk else block.title
    bullet = "\u2022 " if kind.unicode else "- "
    parts = [("B", SIZES["title"] * size, title)] + [
        ("", SIZES["line"] * size, bullet + line) for line in block.lines
    ]
    total = 0.0
    for style, points, text in parts:
        pdf.set_x(x)
        total += _text(pdf, kind, style, points, text, width=width, dry_run=dry_run)
    gap = 2.5 * size
    if not dry_run:
        pdf.set_y(pdf.get_y() + gap)
        pdf.set_x(x)
    return total + gap


def _notice(pdf: FPDF, sign: Sign, kind: _Type, size: float) -> None:
    """The QR code at the left, the caption and URL beside it."""
    top = pdf.get_y() + 2
    rows = qr_rows(sign.notice_url)
    module = QR_MM / len(rows)
    pdf.set_fill_color(0, 0, 0)
    for x, y, n in _runs(rows):
        # A hair of overlap so viewers do not show seams between rows.
        pdf.rect(MARGIN + x * module, top + y * module, n * module, module + 0.02, style="F")
    pdf.set_xy(MARGIN + QR_MM + 6, top + QR_MM / 3)
    width = pdf.w - 2 * MARGIN - QR_MM - 6
    _text(pdf, kind, "B", SIZES["line"] * size, sign.notice_caption, width=width)
    pdf.set_x(MARGIN + QR_MM + 6)
    _text(pdf, kind, "", SIZES["line"] * size, sign.notice_url, width=width)
    pdf.set_y(top + QR_MM + 1)


def _placement(pdf: FPDF, sign: Sign, kind: _Type) -> None:
    _text(pdf, kind, "", 8.0, f"{sign.placement} Source: {sign.source}.")


def _runs(rows: list[list[bool]]) -> list[tuple[int, int, int]]:
    from consentcam.signage.qr import dark_runs

    return dark_runs(rows)


def _text(
    pdf: FPDF,
    kind: _Type,
    style: str,
    points: float,
    text: str,
    *,
    width: float = 0,
    fill: bool = False,
    dry_run: bool = False,
) -> float:
    """One paragraph at the current position; returns its height in mm."""
    pdf.set_font(kind.family, style, points)
    height = points * PT * 1.22
    shown = _printable(text, kind)
    if dry_run:
        measured = pdf.multi_cell(
            width, height, shown, dry_run=True, output=MethodReturnValue.HEIGHT, padding=0
        )
        return float(measured)  # type: ignore[arg-type]
    before = pdf.get_y()
    pdf.multi_cell(
        width,
        height,
        shown,
        fill=fill,
        padding=(2, 2) if fill else 0,
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    return pdf.get_y() - before


def _printable(text: str, kind: _Type) -> str:
    if not kind.cjk:
        text = strip_cjk(text)
    if not kind.unicode:
        text = text.encode("latin-1", "replace").decode("latin-1")
    return text
