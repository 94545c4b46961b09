"""Names people read (sites, cameras, members, guardians): printable, bounded, and displayed as
themselves.
"""

from __future__ import annotations

import unicodedata

from consentcam.errors import InputError

MAX_NAME_LENGTH = 200
# Unicode categories a name may not contain: controls, invisible formatting (among them the
# bidi controls U+202A-202E, U+2066-2069 and the marks U+200E/U+200F, which make
# "abc<U+202E>gnp.exe" display as "abcexe.png"), line and paragraph separators, surrogates.
_NOT_IN_NAMES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
# Format characters that writing needs: the zero-width non-joiner and joiner shape Persian and
# Indic names and join emoji sequences; they cannot reorder text.
_JOINERS = frozenset({"\u200c", "\u200d"})


def check_name(name: str, what: str) -> None:
    """InputError unless ``name`` is 1-200 characters that display as themselves. Names are
    shown to staff, on signs and in lists, so a control or text-direction character would make
    one read as another; the message names the character's code point, never the name."""
    if not name.strip() or len(name) > MAX_NAME_LENGTH:
        raise InputError(f"{what} must be 1-{MAX_NAME_LENGTH} printable characters")
    hidden = hidden_character(name)
    if hidden is not None:
        raise InputError(
            f"{what} must not contain control, invisible formatting or text-direction "
            f"characters (found U+{ord(hidden):04X})"
        )


def hidden_character(text: str) -> str | None:
    """The first character of ``text`` that does not display as itself: a control, an
    invisible formatting or text-direction character (Unicode category Cf, joiners aside), a
    line or paragraph separator, an unpaired surrogate; None if there is none."""
    for ch in text:
        if ch not in _JOINERS and unicodedata.category(ch) in _NOT_IN_NAMES:
            return ch
    return None
