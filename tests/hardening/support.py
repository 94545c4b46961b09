"""The hardening tests' library context (a store with a site, a verify camera, a consenting
member and an evidence file), and running one corpus value through one action: what happened,
and what is wrong with it."""

from __future__ import annotations

import dataclasses
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from consentcam.config import Settings
from consentcam.consent.consents import record_consent
from consentcam.consent.context import Ledger, camera_by_ref
from consentcam.consent.members import add_member
from consentcam.consent.sites import add_camera, add_site
from consentcam.errors import ConsentcamError
from tests.hardening.corpus import Snapshot, label, snapshot


@dataclass(frozen=True)
class Ctx:
    """A store with site ``shop`` (eu), verify camera ``kiosk``, count camera ``entrance`` (a
    real clip), a member with an active recognition consent, and an evidence file."""

    ledger: Ledger
    settings: Settings
    site: str
    camera: str
    member: str
    evidence: Path
    folder: Path

    def snapshot(self) -> Snapshot:
        return snapshot(self.ledger.store, self.settings)

    def fresh(self) -> Ctx:
        """The same store, seen from a new tenant with its own site, cameras and consenting
        member: what one test adds (a site named like an injection) is not found by another's
        lookups."""
        return populate(
            dataclasses.replace(self.ledger, tenant=f"t-{uuid.uuid4().hex[:10]}"),
            self.settings,
            self.folder,
            self.camera_source,
        )

    @property
    def camera_source(self) -> str:
        with self.ledger.store.transaction() as s:
            return camera_by_ref(s, self.camera, self.site, self.ledger.tenant_id(s)).source


def populate(ledger: Ledger, settings: Settings, folder: Path, source: str) -> Ctx:
    add_site(ledger, "shop", "eu")
    add_camera(ledger, "shop", "kiosk", source, "verify", True)
    add_camera(ledger, "shop", "entrance", source, "count", False)
    member = add_member(ledger, "shop", "Ada Member", {"tier": "gold"})
    evidence = folder / "signed-form.txt"
    evidence.write_text("I consent to face recognition. Signed, A. Member")
    record_consent(ledger, member.id, purpose="recognition", evidence=evidence)
    return Ctx(ledger, settings, "shop", "kiosk", member.id, evidence, folder)


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
