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
# uvicorn's exit status when it could not start (the port taken, say), kept for scripts.
STARTUP_FAILURE = 3


@contextmanager
def stop_signals(stop: Callable[[], None]) -> Iterator[None]:
    """Within the block, SIGINT, SIGTERM and SIGHUP call ``stop``; the previous handlers come
    back afterwards. Signals are handled in the main thread, between two Python instructions."""

    def handle(signum: int, frame: Any) -> None:
        stop()

    previous = {sig: signal.signal(sig, handle) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def interrupt() -> None:
    """Stop the work in hand the way Ctrl-C does: the KeyboardInterrupt unwinds it, ``with``
    blocks and ``finally`` clauses included (temporary folders are deleted), and the CLI ends
    as it does on Ctrl-C ("aborted", exit 1)."""
    raise KeyboardInterrupt


def serve_until_stopped(app: Any, **options: Any) -> None:
    """Serve ``app`` with uvicorn (``options`` as for ``uvicorn.run``) until a stop signal, then
    shut down gracefully (requests finished, the app's shutdown run) and return normally.

    uvicorn handles SIGINT and SIGTERM itself while it serves, then raises the signal again
    once it has stopped: with Python's default SIGTERM handler that killed the process
    (exit -15) before the caller's cleanup ran. Ours are the handlers it falls back to."""
    import uvicorn

    config = uvicorn.Config(app, timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S, **options)
    server = uvicorn.Server(config)

    def stop() -> None:
        server.should_exit = True

    with stop_signals(stop):
        server.run()
    if not server.started:
        raise SystemExit(STARTUP_FAILURE)
