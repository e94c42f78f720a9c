"""Completion as kubectl asks it of kubectl_complete-oras (cli/completion_protocol.py and
cli/completion.py): what the word asks for, and cobra's answer, the candidates then `:directive`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kubectl_oras.cli import app
from kubectl_oras.cli.completion import complete, shapes
from kubectl_oras.cli.completion_protocol import NO_FILES, answer, wanted

REPO = Path(__file__).resolve().parents[2]
COMMANDS, ROOT = shapes(app)


@pytest.mark.parametrize(("words", "kind", "word"), [
    ([""], "commands", ""),
    (["st"], "commands", "st"),
    (["status", ""], "caches", ""),
    (["status", "-n", ""], "namespaces", ""),
    (["-n", "lab", "status", "o"], "caches", "o"),
    (["status", "--context", "k"], "contexts", "k"),
    (["delete-cache", ""], "caches", ""),
    (["create-cache", ""], "nothing", ""),  # a new name
    (["tags", "met"], "repositories", "met"),
    (["pull", "met"], "references", "met"),
    (["pull", "metric/hwloc:it"], "tags", "metric/hwloc:it"),
    (["pull", "a:1", "-o", ""], "files", ""),  # pull's -o is a directory
    (["status", "-o", ""], "formats", ""),
    (["push", "a:1", ""], "files", ""),
    (["status", "--as", ""], "nothing", ""),
    (["status", "--"], "options", "--"),
])
def test_the_word_asks_for(words, kind, word):
    want = wanted(words, COMMANDS, ROOT)
    assert (want.kind, want.word) == (kind, word)


def test_the_options_given_before_the_word_aim_the_lookup():
    want = wanted(["tags", "--cache", "results", "-n", "lab", "--context=kind", "-r", "h:5000", "--plain-http", "m"],
                  COMMANDS, ROOT)
    assert dict(want.given) == {"cache": "results", "namespace": "lab", "context": "kind", "registry": "h:5000",
                                "plain_http": "true"}
    assert wanted(["pull", "metric/hwloc:it"], COMMANDS, ROOT).repository == "metric/hwloc"
    config = wanted(["--as", "jane", "status", "--token=t", "-s", "https://a", "--insecure-skip-tls-verify", ""],
                    COMMANDS, ROOT)
    assert dict(config.given) == {"impersonate": "jane", "token": "t", "server": "https://a",
                                  "insecure_skip_tls_verify": "true"}
    # every --as-group, in order (the lookup sends each, as the command does)
    grouped = wanted(["--as", "jane", "--as-group", "devs", "status", "--as-group=ops", "-n", "lab", ""], COMMANDS, ROOT)
    assert (grouped.kind, grouped.impersonate_groups) == ("caches", ("devs", "ops"))
    assert dict(grouped.given) == {"impersonate": "jane", "namespace": "lab"}


def test_cobras_format_is_the_candidates_that_fit_then_the_directive():
    assert answer(["oras", "results", "other"], NO_FILES, "o") == "oras\nother\n:4\n"
    assert answer([], NO_FILES) == ":4\n"
    assert answer(["status\tShow caches"], 0, "st") == "status\tShow caches\n:0\n"


def test_commands_and_options_are_offered_without_a_cluster():
    assert complete(["sta"]).splitlines() == [f"status\t{COMMANDS['status'].help}", ":4"]
    options = complete(["status", "--a"]).splitlines()
    assert options == ["--all-namespaces", "--as", "--as-group", ":4"]
    assert complete(["status", "-o", "j"]) == "json\njsonpath=\n:4\n"


def test_a_lookup_that_cannot_answer_in_time_offers_nothing(tmp_path):
    """No cluster to ask (no kubeconfig): nothing, and within the time limit; kubectl_complete-oras
    is the console script's entry, and cobra's __complete first is taken too."""
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)}
    code = "import sys; from kubectl_oras.cli.completion import main; main()"
    done = subprocess.run([sys.executable, "-c", code, "__complete", "status", ""], env=env, capture_output=True,
                          text=True, timeout=30)
    assert (done.returncode, done.stdout) == (0, ":4\n"), done.stderr
    via_program = subprocess.run([sys.executable, "-m", "kubectl_oras", "__complete", "sta"], env=env,
                                 capture_output=True, text=True, timeout=30)
    assert via_program.stdout.splitlines()[-1] == ":4" and via_program.stdout.startswith("status\t")
