"""The controller's log set-up (controller/runtime/logs.py): text by default, one JSON object per
line on request, with the call's extra fields and the traceback as a string."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging

import pytest

from controller.runtime.logs import configure_logging, parse_level, wants_json


@pytest.fixture
def restore_root():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_text_is_the_default_shape(restore_root):
    out = io.StringIO()
    configure_logging(json=False, level="info", stream=out)
    logging.getLogger("kubectl_oras.test").info("hello %s", "there", extra={"cache": "lab/cache"})
    logging.getLogger("kubectl_oras.test").debug("not shown")
    [line] = lines(out)
    assert line.endswith(" kubectl_oras.test INFO hello there")
    dt.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")


def test_json_is_one_object_per_line_with_extras_and_the_traceback(restore_root):
    out = io.StringIO()
    configure_logging(json=True, level="debug", stream=out)
    log = logging.getLogger("kubectl_oras.test")
    log.debug("reconciling %s", "cache", extra={"cache": "registry", "namespace": "lab", "attempt": 2})
    try:
        raise ValueError("bad spec\nsecond line")
    except ValueError:
        log.exception("reconcile failed", extra={"cache": "registry", "odd": frozenset()})
    first, second = (json.loads(line) for line in lines(out))  # the newline in the error stays inside one line
    assert {k: first[k] for k in ("level", "logger", "message", "cache", "namespace", "attempt")} == {
        "level": "DEBUG", "logger": "kubectl_oras.test", "message": "reconciling cache", "cache": "registry",
        "namespace": "lab", "attempt": 2}
    when = dt.datetime.fromisoformat(first["time"].replace("Z", "+00:00"))
    assert first["time"].endswith("Z") and when.utcoffset() == dt.timedelta(0)
    assert abs((dt.datetime.now(dt.UTC) - when).total_seconds()) < 60
    assert "exc_info" not in first
    assert second["level"] == "ERROR" and second["message"] == "reconcile failed"
    assert second["exc_info"].startswith("Traceback") and "ValueError: bad spec" in second["exc_info"]
    assert second["odd"] == "frozenset()"  # not JSON: its str


def test_an_extra_never_hides_our_own_fields(restore_root):
    out = io.StringIO()
    configure_logging(json=True, level="info", stream=out)
    logging.getLogger("x").warning("careful", extra={"level": "fake", "time": "fake", "logger": "fake"})
    got = json.loads(out.getvalue())
    assert (got["level"], got["logger"], got["extra.level"], got["extra.time"]) == ("WARNING", "x", "fake", "fake")
    assert got["time"] != "fake"


def test_configuring_again_replaces_only_our_own_handler(restore_root):
    theirs = logging.NullHandler()
    logging.getLogger().addHandler(theirs)
    first, second = io.StringIO(), io.StringIO()
    configure_logging(json=False, level="info", stream=first)
    configure_logging(json=True, level="warning", stream=second)
    logging.getLogger("y").warning("once")
    logging.getLogger("y").info("filtered")
    assert first.getvalue() == "" and [json.loads(line)["message"] for line in lines(second)] == ["once"]
    assert theirs in logging.getLogger().handlers


def test_format_and_level_choices():
    assert wants_json(None, {}) is False
    assert wants_json(None, {"KUBECTL_ORAS_LOG_FORMAT": "JSON"}) is True
    assert wants_json("text", {"KUBECTL_ORAS_LOG_FORMAT": "json"}) is False  # the flag wins
    with pytest.raises(ValueError, match="text or json"):
        wants_json("yaml", {})
    assert parse_level("INFO") == logging.INFO and parse_level(" debug ") == logging.DEBUG
    for bad in ("verbose", "", "10"):
        with pytest.raises(ValueError, match="use one of"):
            parse_level(bad)
