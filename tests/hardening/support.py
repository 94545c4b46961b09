"""Running one corpus value through one action: what happened, and what is wrong with it."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from consentcam.errors import ConsentcamError
from tests.hardening.corpus import Snapshot, label

Expect = Literal["stored", "refused", "either"]


def where(exc: BaseException) -> str:
    """The deepest consentcam frame an exception passed through: where to fix it."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/consentcam/" in f.filename]
    if not frames:
        return "outside consentcam"
    f = frames[-1]
    return f"{f.filename.split('/src/')[-1]}:{f.lineno} ({f.name})"


@dataclass
class Outcome:
    value: str
    result: Any = None
    error: ConsentcamError | None = None
    crash: BaseException | None = None
    changed: tuple[str, ...] = ()


def attempt(
    value: str, action: Callable[[], Any], take_snapshot: Callable[[], Snapshot]
) -> Outcome:
    """Run ``action``; on a refusal, compare the store before and after."""
    before = take_snapshot()
    try:
        return Outcome(value, result=action())
    except ConsentcamError as exc:
        return Outcome(value, error=exc, changed=tuple(before.diff(take_snapshot())))
    except Exception as exc:
        return Outcome(value, crash=exc)


def problems(
    outcome: Outcome,
    expect: Expect,
    stored: Callable[[Any], Any] | None = None,
    want: Any = None,
) -> list[str]:
    """What is wrong with ``outcome`` when ``expect`` was wanted; ``stored`` reads back what an
    accepted call stored, which must equal ``want`` (default: the value, verbatim)."""
    name = label(outcome.value)
    if outcome.crash is not None:
        exc = outcome.crash
        return [f"{name}: {type(exc).__name__} escaped at {where(exc)}: {str(exc)[:160]!r}"]
    if outcome.error is not None:
        found = []
        if expect == "stored":
            found.append(f"{name}: legal, but refused: {outcome.error}")
        if outcome.changed:
            found.append(f"{name}: refused, but stored data changed: {', '.join(outcome.changed)}")
        return found
    if expect == "refused":
        return [f"{name}: accepted, expected a refusal"]
    if stored is not None:
        back = stored(outcome.result)
        if back != (outcome.value if want is None else want):
            return [f"{name}: stored as {label(str(back))}, not verbatim"]
    return []
