"""Stop signals for the long-running verbs (``demo``, ``serve``, ``run``, ``watch``).

Ctrl-C sends SIGINT, a service manager SIGTERM (systemd: to every process of the service), a
closed terminal SIGHUP. Python's defaults handle only the first: SIGTERM and SIGHUP end the
process at once, with no ``finally`` clause run, so a demo's throwaway store (and its development
key) stayed in the temp folder and a server never finished its requests. Here all three mean the
same: stop cleanly.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# Open requests (an event stream never ends by itself) get this long once a server is told to
# stop; then they are cancelled, so a stop always ends the process.
GRACEFUL_SHUTDOWN_S = 5


@contextmanager
def _handled(handler: Callable[[int], None]) -> Iterator[None]:
    """Within the block, SIGINT, SIGTERM and SIGHUP call ``handler(signum)``; the previous
    handlers come back afterwards. Signals are handled in the main thread, between two Python
    instructions."""

    def handle(signum: int, frame: Any) -> None:
        handler(signum)

    previous = {sig: signal.signal(sig, handle) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextmanager
def stop_signals(stop: Callable[[], None]) -> Iterator[None]:
    """Within the block, SIGINT, SIGTERM and SIGHUP call ``stop``."""
    with _handled(lambda signum: stop()):
        yield


class StopRequested(KeyboardInterrupt):
    """A stop signal, raised where Ctrl-C raises KeyboardInterrupt, and handled the same way.

    A subclass because CPython notes an unhandled Ctrl-C by the exception's exact type, also
    inside the nested evaluations C extensions make: a plain KeyboardInterrupt passing through
    one, even if handled later, made the process kill itself with SIGINT at exit (exit -2)."""


def interrupt() -> None:
    """Stop the work in hand the way Ctrl-C does: the exception unwinds it, ``with`` blocks and
    ``finally`` clauses included (temporary folders are deleted), and the CLI ends as it does on
    Ctrl-C ("aborted", exit 1)."""
    raise StopRequested


def _as_uvicorn_stop(signum: int) -> None:
    # While it serves, uvicorn handles SIGINT and SIGTERM itself (a graceful shutdown), and it
    # raises them again once stopped, to whatever handler was there before: ours, which then
    # has nothing left to do (Python's default for SIGTERM killed the process at that point,
    # before the caller's cleanup). SIGHUP, which uvicorn leaves alone, becomes its SIGTERM.
    if signum == signal.SIGHUP:
        signal.raise_signal(signal.SIGTERM)


def serve_until_stopped(app: Any, **options: Any) -> None:
    """``uvicorn.run(app, **options)`` until SIGINT, SIGTERM or SIGHUP, each a graceful shutdown
    (requests finished, within GRACEFUL_SHUTDOWN_S, and the app's shutdown run), after which
    this returns normally."""
    import uvicorn

    with _handled(_as_uvicorn_stop):
        uvicorn.run(app, timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S, **options)
