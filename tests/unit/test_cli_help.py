"""Every command's `--help` shows its examples as written: click's plain help rewraps an epilog into
one paragraph unless it is marked not to be (cli/common.py: examples), and a rewrapped example
runs comments and commands together and splits a command line where it cannot be copied."""

from __future__ import annotations

import pytest
import typer.core
import typer.main
from typer.testing import CliRunner

from kubectl_oras.cli import app

GROUP = typer.main.get_command(app)
assert isinstance(GROUP, typer.core.TyperGroup)
COMMANDS = sorted(GROUP.commands)


def help_text(*args: str) -> str:
    result = CliRunner().invoke(app, [*args, "--help"], terminal_width=80)
    assert result.exit_code == 0, result.output
    return result.output


def example_lines(epilog: str) -> list[str]:
    """The epilog's examples, as written: its indented lines (the note after them is not indented)."""
    return [line.strip() for line in epilog.splitlines() if line.startswith(" ") and line.strip()]


def test_every_command_is_checked():
    assert {"push", "pull", "gc", "install", "create-cache", "status", "annotate"} <= set(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_examples_are_not_rewrapped(name):
    lines = example_lines(GROUP.commands[name].epilog or "")
    assert any(line.startswith(f"kubectl oras {name}") for line in lines), lines
    shown = {line.strip() for line in help_text(name).partition("Examples:")[2].splitlines()}
    assert [line for line in lines if line not in shown] == []


def test_the_list_of_commands_cuts_no_summary():
    listed = help_text().partition("Commands:")[2]
    assert listed.strip() and "..." not in listed, listed
