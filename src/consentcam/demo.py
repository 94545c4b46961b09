"""The end-to-end demo on bundled public-domain photos.

Stills: enrol one person from one photo, identify them in another, and report a different person
as unknown, all in memory. Camera: in a throwaway store, record the member's consent, enrol them,
make a short door clip in which the member and a non-member walk in, and run the door camera on it:
one alert for the member, the non-member counted and forgotten. The throwaway store is deleted at
the end; nothing is left on disk.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select

from consentcam.config import Settings, VisionSettings
from consentcam.consent.consents import record_consent
from consentcam.consent.context import Ledger, open_ledger
from consentcam.consent.enrolment import enroll
from consentcam.consent.members import add_member
from consentcam.consent.purchases import import_purchases
from consentcam.consent.sites import add_camera, add_site
from consentcam.match.scores import decide, search
from consentcam.model_card import model_card
from consentcam.pipeline.clips import sample_clip
from consentcam.pipeline.worker import process_video
from consentcam.samples import MEMBER_PHOTO, PASSER_BY_PHOTO, WALKER_PHOTO, sample_photo
from consentcam.store import models
from consentcam.vision.decode import load_image
from consentcam.vision.faces import enrolment_face, file_faces

SAMPLE_MEMBER = ("Barack Obama (sample member)", MEMBER_PHOTO)
SAMPLE_PROBES = (WALKER_PHOTO, PASSER_BY_PHOTO)
DEMO_SITE = "demo-store"


@dataclass(frozen=True, slots=True)
class Identification:
    photo: str
    member: str | None
    distance: float | None
    threshold: float


def run_demo(settings: VisionSettings | None = None) -> dict[str, Any]:
    settings = settings or VisionSettings()
    card = model_card()
    name, photo = SAMPLE_MEMBER
    member = enrolment_face(sample_photo(photo), settings)
    gallery = np.stack([member.vector])
    names = [name]
    threshold = card.identification_threshold(len(names))
    results = []
    for probe in SAMPLE_PROBES:
        faces = file_faces(sample_photo(probe), settings)
        best = search(gallery, faces[0].vector, k=1) if faces else []
        hit = best[0] if best and bool(decide(best[0].distance, threshold)) else None
        results.append(
            Identification(
                photo=probe,
                member=names[hit.index] if hit else None,
                distance=round(best[0].distance, 4) if best else None,
                threshold=round(threshold, 4),
            )
        )
    return {
        "enrolled": {"member": name, "photo": photo, "quality": member.quality.as_dict()},
        "identified": [_as_dict(r) for r in results],
        "stored": "nothing: the demo keeps its one-person gallery in memory",
        "model_card": card.version,
    }


def _as_dict(r: Identification) -> dict[str, Any]:
    return {"photo": r.photo, "member": r.member, "distance": r.distance, "threshold": r.threshold}


def run_video_demo(settings: Settings, root: Path) -> tuple[Ledger, dict[str, Any]]:
    """The camera pipeline on a generated door clip, with a development store in ``root``
    (the caller deletes it): a consenting, enrolled member and a passer-by walk in."""
    name, photo = SAMPLE_MEMBER
    clip = root / "door.mp4"
    walkers = {"member": load_image(sample_photo(WALKER_PHOTO))}
    truth = sample_clip(clip, walkers, [load_image(sample_photo(PASSER_BY_PHOTO))])
    ledger = open_ledger(
        settings.model_copy(update={"data_dir": root / "store", "database_url": None, "dev": True}),
        actor="demo:staff",
        create=True,
    )
    add_site(ledger, DEMO_SITE, "eu")
    add_camera(ledger, DEMO_SITE, "door", str(clip), "door", signage_attested=True)
    member = add_member(ledger, DEMO_SITE, name)
    evidence = root / "consent.txt"
    evidence.write_text("Sample member's consent to recognition at the demo store.")
    # Notice v3: a visit staff confirm on the dashboard refines the member's template, and the
    # member ticked the separate box for pictures: staff compare the enrolment portrait with the
    # door camera's snapshot on the pending alert.
    for purpose in ("recognition", "portrait"):
        record_consent(ledger, member.id, purpose=purpose, evidence=evidence, notice_version="v3")
    enroll(ledger, member.id, [sample_photo(photo)], portrait=True)
    import_purchases(ledger, sample_purchases(root / "pos.csv", member.id))
    run = process_video(ledger, "door")
    clip.unlink()  # the footage stood in for a live camera, whose frames are never kept
    events = [
        {
            "kind": e["kind"],
            "member": e["payload"]["member"]["name"],
            "status": e["status"],
            "allowed_actions": e["payload"]["allowed_actions"],
            "distance": e["payload"]["distance"],
            "threshold": e["payload"]["threshold"],
            "purchases": e["payload"]["purchases"],
            "pictures": e["payload"]["pictures"],
        }
        for e in run.events
    ]
    return ledger, {
        "clip": {"frames": truth.frames, "size": list(truth.size), "fps": truth.fps},
        "fps": round(run.frames / run.seconds, 1) if run.seconds else None,
        "events": events,
        "member_tracks": sum(1 for t in run.tracks if t.member_id is not None),
        "unknown_tracks": sum(1 for t in run.tracks if t.member_id is None),
        "footfall": footfall_totals(ledger),
        "stored": stored_rows(ledger),
        "not_stored": "frames, face crops and embeddings of the passer-by: they never left memory",
    }


def sample_purchases(path: Path, member_id: str) -> Path:
    """A point-of-sale export with the sample member's last visits, so the alert's purchase
    summary has something to show."""
    today = dt.datetime.now(dt.UTC).replace(hour=11, minute=0, second=0, microsecond=0)
    rows = [
        (30, "espresso beans;oat milk", "18.40"),
        (12, "espresso beans;croissant", "14.90"),
        (3, "oat milk;croissant;croissant", "9.70"),
    ]
    lines = ["member_id,time,items,amount,currency"]
    lines += [
        f"{member_id},{(today - dt.timedelta(days=d)).isoformat()},{items},{amount},EUR"
        for d, items, amount in rows
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def footfall_totals(ledger: Ledger) -> dict[str, int]:
    with ledger.store.transaction() as s:
        row = s.execute(
            select(
                func.coalesce(func.sum(models.FootfallBucket.entries), 0),
                func.coalesce(func.sum(models.FootfallBucket.exits), 0),
                func.coalesce(func.sum(models.FootfallBucket.visits), 0),
            )
        ).one()
    return {"entries": int(row[0]), "exits": int(row[1]), "visits": int(row[2])}


def stored_rows(ledger: Ledger) -> dict[str, int]:
    """Rows per table after the run: what the store holds, and nothing about the passer-by."""
    tables = {
        "members": models.Member,
        "purchases": models.Purchase,
        "consents": models.Consent,
        "templates (encrypted)": models.Template,
        "door views held until staff answer (encrypted)": models.HeldView,
        "pictures for staff: portrait and door snapshot (encrypted)": models.MemberImage,
        "events": models.Event,
        "footfall buckets": models.FootfallBucket,
        "audit entries": models.AuditEntry,
    }
    with ledger.store.transaction() as s:
        return {
            name: int(s.execute(select(func.count()).select_from(model)).scalar_one())
            for name, model in tables.items()
        }
