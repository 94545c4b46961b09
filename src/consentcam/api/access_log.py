"""The server's access log without query strings.

uvicorn logs each request as ``client - "METHOD /path?query HTTP/1.1" status``. Queries carry
what callers look up (site names, camera names, dates) and, now and then, a credential pasted
into a URL (``?access_token=``); the log keeps who called which route and the answer, which is
what operating the server needs, and drops the rest (issue 13, item 9).
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import uvicorn.config

# uvicorn's access record arguments: client address, method, path with query, HTTP version,
# status.
_PATH_ARG = 2


class AccessLogWithoutQuery(logging.Filter):
    """Cuts the query string off the path of uvicorn's access log records."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) > _PATH_ARG:
            path = args[_PATH_ARG]
            if isinstance(path, str):
                cut = path.split("?", 1)[0]
                record.args = (*args[:_PATH_ARG], cut, *args[_PATH_ARG + 1 :])
        return True


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's own logging configuration with ``AccessLogWithoutQuery`` on the access log's
    handler (a filter on the handler sees every record the access logger emits)."""
    config: dict[str, Any] = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config.setdefault("filters", {})["without_query"] = {"()": AccessLogWithoutQuery}
    config["handlers"]["access"].setdefault("filters", []).append("without_query")
    return config
