"""One table of the annotation schema (pods/annotation_schema.py): parsing, rendering, the values
`kubectl oras annotate` writes, its flags and docs/annotations.md all say what it says."""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path

import pytest
import typer.core
import typer.main
from typer.testing import CliRunner

from kubectl_oras.cli import app
from kubectl_oras.pods import annotation_schema as schema
from kubectl_oras.pods.annotate import Request
from kubectl_oras.pods.annotations import (
    COUNT_N,
    INPUT_N,
    KNOWN,
    PREFIX,
    READERS,
    InvalidAnnotations,
    StepSettings,
    parse_settings,
    render,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "annotations.md"


def docs_table() -> dict[str, str]:
    """docs/annotations.md's table of keys: each key (input-uri_N aside) with its default cell."""
    text = DOCS.read_text()
    rows = text.partition("| key | meaning | default |\n|---|---|---|\n")[2].partition("\n\n")[0]
    table = {}
    for row in rows.splitlines():
        cells = [cell.strip() for cell in row.strip("|").split(" | ")]
        for key in re.findall(r"`([^`]+)`", cells[0]):
            if not INPUT_N.fullmatch(key) and not COUNT_N.fullmatch(key):
                table[key] = cells[-1] if len(cells) == 3 else ""
    return table


def test_the_docs_table_has_every_key_with_its_default():
    table = docs_table()
    assert set(table) == KNOWN | set(schema.IGNORED)
    for entry in schema.KEYS:
        cell = table[entry.key]
        if entry.default is None:
            assert not cell.startswith("`"), f"{entry.key}: the docs give a default value, {cell}; the table none"
        else:
            assert cell == f"`{entry.default}`", f"{entry.key}: the docs say {cell}, the table `{entry.default}`"
    assert all(table[key] == "" for key in schema.IGNORED)


def test_the_docs_check_sees_a_wrong_default(monkeypatch):
    """The check reads the real table: a default changed in the schema alone is caught."""
    changed = tuple(e._replace(default="false") if e.key == "unpack" else e for e in schema.KEYS)
    monkeypatch.setattr(schema, "KEYS", changed)
    with pytest.raises(AssertionError, match="unpack: the docs say `true`, the table `false`"):
        test_the_docs_table_has_every_key_with_its_default()


def test_every_setting_has_a_key_and_every_kind_a_reader():
    assert {e.field for e in schema.KEYS} == {f.name for f in dataclasses.fields(StepSettings)} - {"warnings"}
    assert {e.kind for e in schema.KEYS} - {schema.PULLED_ARTIFACTS, schema.MATCH_COUNTS} <= set(READERS)
    assert len(schema.KEY) == len(schema.KEYS)


def test_a_key_left_out_or_at_its_default_reads_as_the_settings_defaults():
    assert parse_settings({}) == StepSettings()
    for entry in schema.KEYS:
        if entry.default is not None:
            assert parse_settings({entry.key: entry.default}) == StepSettings(), entry.key
    assert render(StepSettings()) == {}


def test_each_key_is_read_as_its_kind():
    with pytest.raises(InvalidAnnotations, match=f"{PREFIX}input-overwrite: 'maybe' is not"):
        parse_settings({"input-overwrite": "maybe"})
    with pytest.raises(InvalidAnnotations, match=f"{PREFIX}timeout: must be more than zero"):
        parse_settings({"timeout": "0s"})
    assert parse_settings({"debug": " TRUE "}).debug is True
    assert render(parse_settings({"timeout": "90s", "unpack": "false"})) == {PREFIX + "timeout": "90s",
                                                                            PREFIX + "unpack": "false"}


def test_annotate_has_one_flag_for_each_key_the_table_gives_one():
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    options = {param.name: param for param in group.commands["annotate"].params}
    for entry in schema.FLAGGED:
        assert entry.flag is not None
        option = options[entry.field]
        assert (set(option.opts), option.metavar, getattr(option, "help", None)) == \
            (set(entry.flag.names), entry.flag.metavar, entry.help)
        assert option.multiple is entry.flag.repeatable
    shown = CliRunner().invoke(app, ["annotate", "--help"], terminal_width=200).output
    assert all(f"{', '.join(sorted(e.flag.names, key=len))} {e.flag.metavar}" in shown for e in schema.FLAGGED if e.flag)


def test_the_request_has_a_field_for_each_flag_and_writes_the_inputs_first():
    assert [f.name for f in dataclasses.fields(Request)] == [e.field for e in schema.FLAGGED]
    given = Request.from_flags({e.field: None for e in schema.FLAGGED} | {"inputs": ["a:1", "b:2"], "cache": "c"})
    assert list(given.values()) == ["input-uri", "input-uri_1", "oras-cache"]


def test_the_python_api_takes_a_keyword_for_each_flag():
    """kubectl_oras.annotate offers what `kubectl oras annotate` offers, by the same names."""
    from kubectl_oras import api

    parameters = inspect.signature(api.annotate).parameters
    for entry in schema.FLAGGED:
        assert parameters[entry.field].kind is inspect.Parameter.KEYWORD_ONLY, entry.field
        assert parameters[entry.field].default in (None, ()), entry.field
