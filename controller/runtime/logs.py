"""How the controller logs: plain text for people (the default), or one JSON object per line for a
log pipeline (``--log-format json``, or KUBECTL_ORAS_LOG_FORMAT=json).

A JSON line holds ``time`` (RFC 3339, UTC, milliseconds), ``level``, ``logger``, ``message``, every
field the call passed with ``extra=`` (``cache``, ``namespace``, ``lease``…) and, when there is
one, the exception with its traceback as one string (``exc_info``). A value JSON cannot hold is
written as its ``str``.
"""

from __future__ import annotations

import datetime as dt
import json as _json
import logging
import sys
from collections.abc import Mapping
from typing import IO, Any

TEXT_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"
FORMATS = ("text", "json")
LEVELS = ("debug", "info", "warning", "error", "critical")
FORMAT_ENV, LEVEL_ENV = "KUBECTL_ORAS_LOG_FORMAT", "KUBECTL_ORAS_LOG_LEVEL"

# What every LogRecord carries: anything else on a record came from ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}
_OURS = ("time", "level", "logger", "message", "exc_info", "stack_info")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds")
                      .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD:
                out[f"extra.{key}" if key in _OURS else key] = value  # never hides one of ours
        if record.exc_info:
            out["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exc_info"] = record.exc_text
        if record.stack_info:
            out["stack_info"] = self.formatStack(record.stack_info)
        return _json.dumps(out, default=str, ensure_ascii=False)


def parse_level(level: str) -> int:
    name = level.strip().lower()
    if name not in LEVELS:
        raise ValueError(f"log level {level!r}: use one of {', '.join(LEVELS)}")
    return int(getattr(logging, name.upper()))


def wants_json(flag: str | None, environ: Mapping[str, str]) -> bool:
    """The log format from ``--log-format`` if given, else KUBECTL_ORAS_LOG_FORMAT, else text."""
    chosen = (flag or environ.get(FORMAT_ENV) or "text").strip().lower()
    if chosen not in FORMATS:
        raise ValueError(f"log format {chosen!r}: use text or json")
    return chosen == "json"


def configure_logging(*, json: bool, level: str = "info", stream: IO[str] | None = None) -> logging.Handler:
    """Send every log record at ``level`` and above to ``stream`` (stderr) in the chosen format.

    Calling it again replaces the handler it installed before, and only that one: handlers others
    put on the root logger stay."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_kubectl_oras", False)]:
        root.removeHandler(old)
        old.close()
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if json else logging.Formatter(TEXT_FORMAT))
    handler._kubectl_oras = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(parse_level(level))
    return handler
