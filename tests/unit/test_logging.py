"""`configure_logging`: JSON lines that parse and carry time, level, logger, message and `extra` ids; text by default;
apscheduler quietened."""

from __future__ import annotations

import io
import json
import logging
import logging.config
from collections.abc import Iterator

import pytest

from config.logging import configure_logging, logging_config
from workers.settings import Settings


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def settings(**values) -> Settings:
    return Settings(_env_file=None, **values)


def test_json_lines_parse_and_carry_the_level_message_and_ids():
    out = io.StringIO()
    configure_logging(settings(log_format="json", log_level="DEBUG"), stream=out)
    logging.getLogger("carepath.tasks").info("timer %s fired", "t-1", extra={"timer_id": "t-1", "workflow_id": "w-9"})
    logging.getLogger("carepath.tasks").warning("message parked")
    logging.getLogger("carepath.other").debug("detail")

    lines = out.getvalue().splitlines()
    records = [json.loads(line) for line in lines]
    assert [(r["level"], r["logger"], r["message"]) for r in records] == [
        ("INFO", "carepath.tasks", "timer t-1 fired"),
        ("WARNING", "carepath.tasks", "message parked"),
        ("DEBUG", "carepath.other", "detail"),
    ]
    assert records[0]["timer_id"] == "t-1" and records[0]["workflow_id"] == "w-9"
    assert records[0]["time"].endswith("+00:00")
    assert "args" not in records[0] and "msg" not in records[0]  # only the rendered message, not the record's guts


def test_json_carries_exceptions_on_one_line():
    out = io.StringIO()
    configure_logging(settings(log_format="json"), stream=out)
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("carepath.x").exception("tick failed")
    [line] = out.getvalue().splitlines()
    record = json.loads(line)
    assert record["level"] == "ERROR" and "ValueError: boom" in record["exception"]


def test_text_is_the_default_and_the_level_filters():
    out = io.StringIO()
    configure_logging(settings(log_level="WARNING"), stream=out)
    logging.getLogger("carepath.x").info("hidden")
    logging.getLogger("carepath.x").warning("shown")
    [line] = out.getvalue().splitlines()
    assert line.endswith("WARNING carepath.x shown")


def test_apscheduler_is_kept_at_warning():
    configure_logging(settings(log_level="DEBUG"), stream=io.StringIO())
    assert logging.getLogger("apscheduler").getEffectiveLevel() == logging.WARNING


def test_the_dict_config_for_uvicorn_routes_its_loggers_to_the_same_json_handler(capsys):
    logging.config.dictConfig(logging_config(settings(log_format="json")))
    logging.getLogger("uvicorn.access").info("GET /healthz 200")
    record = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert (record["logger"], record["message"]) == ("uvicorn.access", "GET /healthz 200")


def test_settings_read_the_environment(monkeypatch):
    monkeypatch.setenv("CAREPATH_LOG_FORMAT", "json")
    monkeypatch.setenv("CAREPATH_LOG_LEVEL", "DEBUG")
    loaded = Settings(_env_file=None)
    assert (loaded.log_format, loaded.log_level) == ("json", "DEBUG")
    monkeypatch.setenv("CAREPATH_LOG_FORMAT", "xml")
    with pytest.raises(ValueError):
        Settings(_env_file=None)


def test_the_access_log_never_carries_a_query_string(capsys):
    """Issue #14 item 7: searches are POSTs, and an address typed by hand (`/console/patients?q=Jane`) is logged
    without what it carries, in both set-ups (uvicorn's dict config and `configure_logging`)."""
    access = logging.getLogger("uvicorn.access")
    try:
        logging.config.dictConfig(logging_config(settings(log_format="json")))
        access.info('%s - "%s %s HTTP/%s" %d', "203.0.113.9:5000", "GET", "/console/patients?q=Jane+Roe&stage=x",
                    "1.1", 200)
        record = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
        assert record["message"] == '203.0.113.9:5000 - "GET /console/patients?… HTTP/1.1" 200'
        access.filters.clear()
        out = io.StringIO()
        configure_logging(settings(), stream=out)
        access.info('%s - "%s %s HTTP/%s" %d', "203.0.113.9:5000", "GET", "/worklist?item=Jane", "1.1", 303)
        assert "Jane" not in out.getvalue() and '"GET /worklist?… HTTP/1.1" 303' in out.getvalue()
    finally:
        access.filters.clear()
