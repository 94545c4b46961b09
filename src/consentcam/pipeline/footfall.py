"""Anonymous footfall in the store: the worker adds its counts to hourly rows, and the API and
the CLI read them back.

The counting itself (``consentcam.track.footfall``) is pure; only these functions touch the
database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from consentcam.store.db import dialect_insert
from consentcam.store.models import FootfallBucket
from consentcam.track.footfall import COUNTS, FootfallCounts, as_utc, hour_start


def add_footfall(
    session: Session, camera_id: str, buckets: Mapping[dt.datetime, FootfallCounts]
) -> None:
    """Add counts to a camera's stored hourly rows, creating the rows that are missing.

    One INSERT .. ON CONFLICT (camera_id, hour) DO UPDATE adds to the row in the database, so two
    workers adding to the same hour both count, on SQLite and PostgreSQL alike. Rows are written
    in hour order, so concurrent writers lock them in the same order and cannot deadlock."""
    merged: dict[dt.datetime, FootfallCounts] = {}
    for at, counts in buckets.items():
        hour = hour_start(at)
        merged[hour] = merged.get(hour, FootfallCounts()) + counts
    if not merged:
        return
    rows = [
        {"camera_id": camera_id, "hour": hour, **_as_dict(merged[hour])} for hour in sorted(merged)
    ]
    insert = dialect_insert(session)
    statement = insert(FootfallBucket).values(rows)
    table = FootfallBucket.__table__.c
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[table.camera_id, table.hour],
            set_={name: table[name] + statement.excluded[name] for name in COUNTS},
        )
    )


def _as_dict(counts: FootfallCounts) -> dict[str, int]:
    return {name: getattr(counts, name) for name in COUNTS}


def footfall_report(
    session: Session, camera_ids: Sequence[str], since: dt.datetime, until: dt.datetime
) -> list[dict[str, Any]]:
    """One row per camera and hourly bucket overlapping ``[since, until)``, ordered by hour then
    camera, with the mean dwell of the visits that ended in that hour (None when there were
    none)."""
    start, end = hour_start(since), as_utc(until)
    if not camera_ids:
        return []
    buckets = session.execute(
        select(FootfallBucket)
        .where(
            FootfallBucket.camera_id.in_(camera_ids),
            FootfallBucket.hour >= start,
            FootfallBucket.hour < end,
        )
        .order_by(FootfallBucket.hour, FootfallBucket.camera_id)
    ).scalars()
    return [_report_row(bucket) for bucket in buckets]


def _report_row(bucket: FootfallBucket) -> dict[str, Any]:
    return {
        "camera_id": bucket.camera_id,
        "hour": bucket.hour.isoformat(),
        "entries": bucket.entries,
        "exits": bucket.exits,
        "visits": bucket.visits,
        "dwell_seconds": bucket.dwell_seconds,
        "mean_dwell_s": round(bucket.dwell_seconds / bucket.visits, 1) if bucket.visits else None,
    }
