"""A camera worker's bounded on-disk queue of member alerts the store could not take.

When the database is unreachable the worker keeps recognising from its in-memory gallery; an
alert it cannot write goes here and is written, with its outbox and audit entries, when the store
is back. Each line is one alert as JSON: ids, the camera, the time and the match figures; never an
embedding, a face crop or a passer-by's anything (privacy invariant 2). The file exists only while
something waits in it, is readable by its owner only, and holds at most ``max_entries`` alerts:
beyond that the oldest are dropped and counted (a stale greeting is worth least).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PendingAlert:
    event_id: str
    member_id: str
    kind: str
    claim_id: str | None
    at: dt.datetime
    distance: float
    threshold: float
    frames: int

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "at": self.at.isoformat()})

    @classmethod
    def from_json(cls, line: str) -> PendingAlert:
        data = json.loads(line)
        return cls(**{**data, "at": dt.datetime.fromisoformat(data["at"])})


class AlertSpool:
    def __init__(self, path: Path, max_entries: int = 10_000) -> None:
        self.path = path
        self.max_entries = max_entries
        self.dropped = 0
        self._alerts: list[PendingAlert] = []
        # The worker's frame loop puts alerts while its retry thread writes them out and marks
        # them done: each change and its save happen under the lock, so neither loses the other's.
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._alerts)

    def put(self, alert: PendingAlert) -> None:
        with self._lock:
            self._alerts.append(alert)
            excess = max(0, len(self._alerts) - self.max_entries)
            if excess:
                del self._alerts[:excess]
                self.dropped += excess
            self._save()
        if excess:
            log.warning("alert spool full: %d oldest alert(s) dropped", excess)

    def pending(self) -> list[PendingAlert]:
        with self._lock:
            return list(self._alerts)

    def done(self, event_id: str) -> None:
        with self._lock:
            self._alerts = [a for a in self._alerts if a.event_id != event_id]
            self._save()

    def load(self) -> None:
        """Pick up alerts a previous run of this camera left behind (a crash during an outage)."""
        if self.path.is_file():
            lines = self.path.read_text().splitlines()
            with self._lock:
                self._alerts = [PendingAlert.from_json(line) for line in lines if line.strip()]

    def _save(self) -> None:
        if not self._alerts:
            self.path.unlink(missing_ok=True)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        # Owner-only from creation: the lines name members.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("".join(a.to_json() + "\n" for a in self._alerts))
        os.replace(tmp, self.path)
