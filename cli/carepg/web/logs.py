"""JSON-lines logging on stderr: one object per line, so logs can be grepped and parsed alike."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys

LOGGER_NAMES = ("carepg.web", "psycopg.pool")


class JsonLines(logging.Formatter):
    """`{"ts", "level", "logger", "msg", ...fields}`; a traceback only when the record carries one (bugs)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def setup() -> logging.Logger:
    """Send carepg.web's and psycopg_pool's records to stderr as JSON lines (idempotent)."""
    for name in LOGGER_NAMES:
        logger = logging.getLogger(name)
        if not any(isinstance(h.formatter, JsonLines) for h in logger.handlers):
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(JsonLines())
            logger.addHandler(handler)
        # psycopg_pool narrates every checkout at INFO; its warnings (cannot connect...) are what matter.
        logger.setLevel(logging.INFO if name == "carepg.web" else logging.WARNING)
        logger.propagate = False
    return logging.getLogger("carepg.web")
