"""Fonts for the PDF sign, all found on this machine, none downloaded at run time.

- Text: DejaVu Sans from matplotlib's package data (a dependency, so always there); it covers
  Latin, Greek, Cyrillic and the section sign, but not Chinese.
- Chinese (the PIPL 26 sign's heading and sentence): a CJK font only if one is installed
  (``fc-list :lang=zh``, e.g. Debian's fonts-noto-cjk) or given explicitly. Without one the PDF is
  English-only and says that the bilingual version is the HTML sign.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

# CJK ideographs, radicals, kana, CJK and full-width punctuation.
CJK = re.compile(
    r"[\u2e80-\u2fdf\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef]+"
)
FONT_SUFFIXES = (".ttf", ".otf", ".ttc")


def split_cjk(text: str) -> list[tuple[str, bool]]:
    """``text`` as runs, each flagged True when it is Chinese (or other CJK) script."""
    runs: list[tuple[str, bool]] = []
    last = 0
    for match in CJK.finditer(text):
        if match.start() > last:
            runs.append((text[last : match.start()], False))
        runs.append((match.group(), True))
        last = match.end()
    if last < len(text):
        runs.append((text[last:], False))
    return runs


def strip_cjk(text: str) -> str:
    """``text`` without its CJK runs, for a PDF made without a CJK font."""
    return " ".join(CJK.sub(" ", text).split())


@lru_cache(maxsize=1)
def text_fonts() -> tuple[Path, Path] | None:
    """DejaVu Sans regular and bold, from matplotlib's data (found without importing it)."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "mpl-data" / "fonts" / "ttf"
    regular, bold = folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf"
    return (regular, bold) if regular.is_file() and bold.is_file() else None


@lru_cache(maxsize=1)
def cjk_font() -> Path | None:
    """An installed font with Chinese glyphs, or None (fontconfig's ``fc-list :lang=zh``)."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return None
    try:
        listing = subprocess.run(
            [fc_list, ":lang=zh", "file"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return pick_cjk_font(listing)


def pick_cjk_font(listing: str) -> Path | None:
    """The font to use from ``fc-list ... file`` output: simplified Chinese first, then any."""
    files = sorted(
        {
            Path(line.split(":")[0].strip())
            for line in listing.splitlines()
            if line.split(":")[0].strip().lower().endswith(FONT_SUFFIXES)
        },
        key=lambda p: (not any(tag in p.name for tag in ("SC", "CN", "GB", "wqy")), str(p)),
    )
    return next((f for f in files if f.is_file()), None)
