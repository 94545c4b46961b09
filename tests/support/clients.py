"""Clients of the API: FastAPI's TestClient, a client holding a user's token, and the app served
for real by uvicorn on a loopback port (for tests that need a socket: browsers, raw bodies)."""

from __future__ import annotations

import socket
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from consentcam.api.app import create_app
from consentcam.config import Settings
from consentcam.consent.context import Ledger
from tests.support.auth import bearer, user_with_token

with warnings.catch_warnings():
    # Starlette suggests another HTTP client for its TestClient at import; httpx is what the
    # project ships. Importing it here, once, keeps that out of every test module.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

__all__ = ["TestClient", "serving", "token_client"]


@contextmanager
def token_client(
    ledger: Ledger, settings: Settings, user: str, role: str, **app_options: Any
) -> Iterator[TestClient]:
    """A running app over ``settings`` and a client sending the bearer token of a new user
    ``user`` with ``role`` (password hashing should be made cheap first: ``use_fast_hashing``)."""
    token = user_with_token(ledger, user, role)
    app = create_app(settings, **app_options)
    with TestClient(app, headers=bearer(token)) as client:
        yield client


@contextmanager
def serving(app: Any, **config: Any) -> Iterator[int]:
    """Serve ``app`` with uvicorn in a daemon thread on a free 127.0.0.1 port; yields the port.
    ``config`` goes to ``uvicorn.Config`` (the lifespan is off: tests start what they need)."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", **config))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    try:
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        yield int(sock.getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
