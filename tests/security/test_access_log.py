"""Issue 13, item 9: ``consentcam serve``'s access log recorded each request's query string, where
callers put names, search terms, and sometimes tokens (``?site=...``, a pasted
``?access_token=``). The log keeps the path only."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from consentcam.api.access_log import AccessLogWithoutQuery, uvicorn_log_config

SECRET = "s3cr3t-in-the-query"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _record(path: str) -> logging.LogRecord:
    """An access log record made the way uvicorn makes one."""
    return logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", path, "1.1", 200),
        None,
    )


def test_the_filter_cuts_the_query_and_keeps_the_path() -> None:
    record = _record(f"/api/v1/events?site=north&token={SECRET}")
    assert AccessLogWithoutQuery().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "GET /api/v1/events HTTP/1.1" 200'
    plain = _record("/healthz")
    assert AccessLogWithoutQuery().filter(plain) and "/healthz" in plain.getMessage()


def test_the_log_config_applies_the_filter_to_the_access_log() -> None:
    config = uvicorn_log_config()
    access = config["handlers"]["access"]
    assert any(config["filters"][name]["()"] is AccessLogWithoutQuery for name in access["filters"])


def test_serve_logs_requests_without_their_query(tmp_path: Path) -> None:
    env = {**os.environ, "CONSENTCAM_DATA_DIR": str(tmp_path / "store")}
    env.pop("CONSENTCAM_TEMPLATE_KEY", None)
    command = [sys.executable, "-m", "consentcam"]
    subprocess.run([*command, "init", "--dev"], env=env, check=True, capture_output=True)
    port = _free_port()
    server = subprocess.Popen(
        [*command, "serve", "--dev", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/healthz?token={SECRET}"
        deadline = time.monotonic() + 60
        while True:
            try:
                assert httpx.get(url, timeout=2).status_code == 200
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and server.poll() is None, "serve did not start"
                time.sleep(0.2)
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert '"GET /healthz HTTP/1.1" 200' in output, output
    assert SECRET not in output and "?token" not in output
