"""Logging: the request id on every record (`RequestIdFilter`), JSON lines (`JsonFormatter`), and no
secrets: credentials that could reach a log line (an `Authorization` header, an API token, a password
or a session/CSRF cookie in a message or an extra field) are masked.

Settings: `LOG_JSON` (default on when DEBUG is off), `LOG_LEVEL`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

from pythonjsonlogger.json import JsonFormatter as BaseJsonFormatter

#: The id of the request being served in this thread/task; "-" outside a request (workers, commands).
request_id_var: ContextVar[str] = ContextVar("request_id", default="-")

MASK = "[redacted]"
# `Authorization: Token abc`, `Bearer abc`, `token=abc`, `password=abc`, `"password": "abc"`,
# `sessionid=abc`, `csrftoken=abc`: the value goes, the name stays.
_SECRET = re.compile(
    r"(?i)(\b(?:authorization|x-api-key)\b\W{0,3}(?:token|bearer|basic)?\s*"
    r"|\b(?:token|key|password|passwd|secret|sessionid|csrftoken|csrfmiddlewaretoken)\b[\"']?\s*[:=]\s*[\"']?"
    r"|\b(?:Token|Bearer)\s+)"
    r"([^\s\"'&,;}]+)"
)
_SECRET_KEYS = {
    "authorization",
    "password",
    "token",
    "key",
    "secret",
    "cookie",
    "http_authorization",
    "http_cookie",
}


def redact(text: str) -> str:
    """`text` with the values of credentials replaced by `[redacted]` (names kept)."""
    return _SECRET.sub(lambda m: m.group(1) + MASK, text)


class RequestIdFilter(logging.Filter):
    """Adds `record.request_id` (the current request's, or "-") and masks credentials in the message."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        # gunicorn's access line is written after the request (the id is cleared by then): it takes
        # the id the response carried (its atoms: `{x-request-id}o`).
        if record.name == "gunicorn.access" and isinstance(record.args, Mapping):
            answered = record.args.get("{x-request-id}o")
            if answered and answered != "-":
                record.request_id = answered
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: leave it to the handler to report
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        for name in list(vars(record)):
            if name.lower() in _SECRET_KEYS:
                setattr(record, name, MASK)
        # Django's request loggers attach the request itself; its headers never reach the output,
        # but a formatter that dumps extras would: keep only its method and path.
        request = getattr(record, "request", None)
        if request is not None and not isinstance(request, str):
            record.request = f"{getattr(request, 'method', '')} {getattr(request, 'path', '')}".strip()
        return True


class JsonFormatter(BaseJsonFormatter):
    """One JSON object per line: `time` (UTC ISO 8601), `level`, `logger`, `message`, `request_id`,
    any extra fields, and `exc_info` (the traceback as text) when there is one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"})
        kwargs.setdefault("timestamp", False)
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s", *args, **kwargs)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        from datetime import UTC, datetime

        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
