"""One -o for every command (cli/common.py: print_data): json, yaml, name and jsonpath=TEMPLATE,
a format it does not know refused naming it before the command runs."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from kubectl_oras import __version__
from kubectl_oras.cli import app
from kubectl_oras.cli.common import OutputFormat, output_format, print_data

runner = CliRunner()


def test_jsonpath_and_json_print_the_same_data():
    as_json = runner.invoke(app, ["version", "--client", "-o", "json"])
    assert json.loads(as_json.output) == {"client": {"version": __version__}}
    picked = runner.invoke(app, ["version", "--client", "-o", "jsonpath={.client.version}"])
    assert (picked.exit_code, picked.output) == (0, __version__)


def test_name_prints_the_names_a_command_gives(capsys):
    print_data(output_format("name"), [{"name": "oras"}], "text", names=["orascache/oras", "orascache/big"])
    print_data(output_format("name"), [], "text", names=[])
    assert capsys.readouterr().out == "orascache/oras\norascache/big\n"


def test_name_is_refused_where_the_output_has_no_names():
    done = runner.invoke(app, ["version", "--client", "-o", "name"])
    assert done.exit_code == 1
    assert done.output.strip() == "error: -o name: this command's output has no names; use -o json, yaml or jsonpath=..."


def test_a_format_that_is_not_one_is_a_usage_error_naming_it():
    done = runner.invoke(app, ["version", "--client", "-o", "xml"])
    assert done.exit_code == 2 and "'xml' is not one of text, json, yaml, name, jsonpath=TEMPLATE" in done.output
    ranged = runner.invoke(app, ["tags", "repo", "-r", "127.0.0.1:1", "-o", "jsonpath={range .tags[*]}{end}"])
    assert ranged.exit_code == 2 and "range is not supported" in ranged.output  # before the registry is asked
    empty = runner.invoke(app, ["ls", "-r", "127.0.0.1:1", "--output=jsonpath="])
    assert empty.exit_code == 2 and "jsonpath needs a template" in empty.output


def test_the_words_are_single_values():
    assert output_format("json") is OutputFormat.json and output_format(OutputFormat.text) is OutputFormat.text
    assert str(output_format("jsonpath={.a}")) == "jsonpath={.a}"


def test_status_of_one_cache_in_every_namespace_is_refused_before_the_cluster_is_asked():
    done = runner.invoke(app, ["status", "oras", "-A", "--kubeconfig", "/no/such/kubeconfig"])
    assert done.exit_code == 1
    assert done.output.strip() == ("error: status oras -A: a cache is named in one namespace; give -n NS, "
                                   "not --all-namespaces")
