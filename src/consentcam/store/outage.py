"""A store outage, as one client (a camera worker, a gallery) sees it, logged once.

Workers and galleries try the store again several times a second while it is away; a warning per
failed attempt (about 120 lines per worker in a 30 s outage) buries what an operator needs: when
it went away, why, and when it came back. ``Outage`` logs a warning at the first failure after a
success, naming the error's class (its message may name the server's address, a setting), and
one line at the first success after a failure, with how long the store was away.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable


class Outage:
    """Whether the store is away for one client, and since when; safe to share between the
    client's threads (a gallery's listener and refresher report to one)."""

    def __init__(
        self,
        log: logging.Logger,
        name: str,
        meanwhile: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``name`` starts each line ("camera door-1"); ``meanwhile`` says what the client does
        until the store is back ("alerts wait in the spool")."""
        self._log = log
        self._name = name
        self._meanwhile = meanwhile
        self._clock = clock
        self._since: float | None = None
        self._lock = threading.Lock()

    @property
    def down(self) -> bool:
        return self._since is not None

    def failed(self, error: BaseException) -> bool:
        """Note a failed attempt; True if it began the outage (the first failure since a
        success), which alone is logged."""
        with self._lock:
            if self._since is not None:
                return False
            self._since = self._clock()
        self._log.warning(
            "%s: store unavailable (%s); %s until it is back",
            self._name,
            type(error).__name__,
            self._meanwhile,
        )
        return True

    def succeeded(self) -> float | None:
        """Note a successful attempt; the outage's length in seconds if it ended one (logged),
        else None."""
        with self._lock:
            if self._since is None:
                return None
            away_s = self._clock() - self._since
            self._since = None
        self._log.info("%s: store back after %.1f s", self._name, away_s)
        return away_s
