"""kubectl's global flags anywhere on the line (cli/command_line.py): the config flags go before the
command, the cluster options after its name, and the program is named as the user typed it."""

from __future__ import annotations

import pytest

from kubectl_oras.cli.command_line import global_flags_placed, program_name

# Each command's options, and whether each takes a value (as cli/__init__.py: main reads them).
CLUSTER = {"-n": True, "--namespace": True, "--context": True, "--kubeconfig": True}
COMMANDS = {"status": CLUSTER, "push": CLUSTER, "pull": {**CLUSTER, "-o": True, "--output": True, "--include": True},
            "logs": {**CLUSTER, "-f": False, "--follow": False, "-c": True},
            "version": {"--context": True, "--kubeconfig": True, "--client": False}}


@pytest.mark.parametrize(("given", "placed"), [
    (["-n", "lab", "status"], ["status", "-n", "lab"]),
    (["--namespace=lab", "status", "oras"], ["status", "--namespace=lab", "oras"]),
    (["-nlab", "--context", "kind", "status"], ["status", "-nlab", "--context", "kind"]),
    (["status", "-n", "lab"], ["status", "-n", "lab"]),
    (["status", "--as", "jane", "-v", "6"], ["--as", "jane", "-v", "6", "status"]),
    (["--kubeconfig", "k.yaml", "push", "a:1", "f", "--token=t"], ["--token=t", "push", "--kubeconfig", "k.yaml", "a:1", "f"]),
    (["-v6", "--v=7", "status"], ["-v6", "--v=7", "status"]),
    (["status", "--insecure-skip-tls-verify=true"], ["--insecure-skip-tls-verify", "status"]),
    (["status", "--insecure-skip-tls-verify=false"], ["status"]),
    (["--as-group", "a", "--as-group=b", "status"], ["--as-group", "a", "--as-group=b", "status"]),
], ids=lambda v: " ".join(v))
def test_global_flags_are_placed_where_the_parser_reads_them(given, placed):
    assert global_flags_placed(given, COMMANDS) == placed


def test_a_value_that_names_a_command_is_the_flags_value_not_the_command():
    assert global_flags_placed(["-n", "status", "status"], COMMANDS) == ["status", "-n", "status"]
    assert global_flags_placed(["--user", "pull", "push", "x"], COMMANDS) == ["--user", "pull", "push", "x"]


@pytest.mark.parametrize(("given", "placed"), [
    # click reads -n as -o's value here: moving it would pull from namespace "--include" into "a"
    (["pull", "lab/x:y", "-o", "-n", "--include", "a"], ["pull", "lab/x:y", "-o", "-n", "--include", "a"]),
    (["pull", "lab/x:y", "-o", "-vendor"], ["pull", "lab/x:y", "-o", "-vendor"]),
    (["logs", "-c", "-nginx", "job/x"], ["logs", "-c", "-nginx", "job/x"]),
    (["logs", "-f", "-v", "6", "job/x"], ["-v", "6", "logs", "-f", "job/x"]),  # -f takes no value: -v is a flag
], ids=lambda v: " ".join(v))
def test_a_value_of_the_commands_own_option_stays_its_value(given, placed):
    assert global_flags_placed(given, COMMANDS) == placed


def test_a_short_flag_written_with_an_equals_sign_is_taken_as_kubectl_takes_it():
    # kubectl -v=6 and -n=lab: pflag reads the value after '='; click would read "=6" and "=lab"
    assert global_flags_placed(["-v=6", "status", "-n=lab"], COMMANDS) == ["-v6", "status", "-nlab"]
    assert global_flags_placed(["-s=https://k:6443", "status"], COMMANDS) == ["-shttps://k:6443", "status"]
    assert global_flags_placed(["-v=", "status"], COMMANDS) == ["-v=", "status"]  # the parser names it, not "status"


def test_a_boolean_flag_with_a_value_that_is_no_boolean_is_left_for_the_parser_to_refuse():
    placed = global_flags_placed(["status", "--insecure-skip-tls-verify=maybe"], COMMANDS)
    assert placed == ["--insecure-skip-tls-verify=maybe", "status"]
    from typer.testing import CliRunner

    from kubectl_oras.cli import app

    refused = CliRunner().invoke(app, placed)
    assert refused.exit_code == 2 and "'--insecure-skip-tls-verify' does not take a value" in refused.output
    assert global_flags_placed(["status", "--insecure-skip-tls-verify=0"], COMMANDS) == ["status"]


def test_nothing_after_a_double_dash_moves():
    assert global_flags_placed(["push", "--", "-n", "x"], COMMANDS) == ["push", "--", "-n", "x"]


def test_a_flag_missing_its_value_stays_for_the_parser_to_name():
    assert global_flags_placed(["status", "-n"], COMMANDS) == ["status", "-n"]
    # a config flag is the program's option: in front, alone, where click says "requires an argument"
    # (after the command, click said "No such option: --as-group")
    assert global_flags_placed(["status", "-n", "lab", "--as-group"], COMMANDS) == ["--as-group"]
    assert global_flags_placed(["--as", "jane", "status", "--as"], COMMANDS) == ["--as", "jane", "--as"]


def test_a_cluster_option_the_command_has_not_is_left_out_as_kubectl_ignores_it():
    assert global_flags_placed(["-n", "lab", "--context", "k", "version"], COMMANDS) == ["version", "--context", "k"]
    assert global_flags_placed(["version", "--namespace=lab", "-nx"], COMMANDS) == ["version"]


def test_without_a_command_only_the_config_flags_move():
    assert global_flags_placed(["-n", "lab", "--help", "--as", "x"], COMMANDS) == ["--as", "x", "--help", "-n", "lab"]
    assert global_flags_placed(["-n", "lab", "stauts"], COMMANDS) == ["stauts", "-n", "lab"]


def test_the_program_is_named_kubectl_oras_when_kubectl_runs_it():
    assert program_name("/home/u/.krew/bin/kubectl-oras", {}) == "kubectl oras"
    assert program_name("kubectl-oras", {}) == "kubectl oras"
    assert program_name("/usr/bin/python3", {"KUBECTL_PLUGINS_CALLER": "/usr/bin/kubectl"}) == "kubectl oras"
    assert program_name("/usr/bin/python3", {}) == "kubectl-oras"
    assert program_name("/x/kubectl-oras-dev", {}) == "kubectl-oras"
