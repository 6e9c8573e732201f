"""Process logging from settings: `CAREPATH_LOG_FORMAT=text|json` and `CAREPATH_LOG_LEVEL`.

JSON is one object a line: `time` (UTC, ISO 8601), `level`, `logger`, `message`, and any ids passed with `extra=`
(`log.info("timer fired", extra={"timer_id": ...})`). carepath logs ids only; nothing here adds patient data.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from workers.settings import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
QUIET_LOGGERS = {"apscheduler": logging.WARNING}  # one line a second says nothing
# Attributes every LogRecord has: anything else on a record came in through `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName",
                                                                             "color_message"}  # uvicorn's ANSI copy


class WithoutQueryStrings(logging.Filter):
    """uvicorn's access log line without the query string: carepath keeps searches out of addresses (they are POSTs),
    and an address typed or bookmarked by hand must not put what it carries into the log either."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) >= 3 and isinstance(record.args[2], str):
            path, _, query = record.args[2].partition("?")
            if query:
                record.args = (*record.args[:2], f"{path}?…", *record.args[3:])
        return True


ACCESS_FILTER = WithoutQueryStrings()


class JsonFormatter(logging.Formatter):
    """One JSON object a line."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def logging_config(settings: Settings) -> dict:
    """The same setup as a `logging.config.dictConfig` dict, for uvicorn's `log_config` (applied in each worker
    process it spawns) : uvicorn's loggers propagate to the root handler instead of printing their own format."""
    formatter = {"()": f"{__name__}.JsonFormatter"} if settings.log_format == "json" else {"format": TEXT_FORMAT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"carepath": formatter},
        "filters": {"without_query_strings": {"()": f"{__name__}.WithoutQueryStrings"}},
        "handlers": {"root": {"class": "logging.StreamHandler", "formatter": "carepath", "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["root"], "level": settings.log_level},
        "loggers": {
            **{name: {"handlers": [], "propagate": True} for name in ("uvicorn", "uvicorn.error")},
            "uvicorn.access": {"handlers": [], "propagate": True, "filters": ["without_query_strings"]},
            **{name: {"level": logging.getLevelName(level)} for name, level in QUIET_LOGGERS.items()},
        },
    }


def configure_logging(settings: Settings | None = None, stream=None) -> logging.Handler:
    """Replace the root logger's handlers with one writing `settings.log_format` at `settings.log_level`."""
    settings = settings or Settings()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    for name, level in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(level)
    access = logging.getLogger("uvicorn.access")
    if ACCESS_FILTER not in access.filters:
        access.addFilter(ACCESS_FILTER)
    return handler
