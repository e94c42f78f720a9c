"""`kubectl oras --help`, every command's `--help` and `version` load no engine: the command line
imports the HTTP stack, the cluster stack, YAML and rich only in the command that uses them
(docs/architecture.md). Read from the interpreter's own record of its imports (-X importtime) while
the real program runs, exit and all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kubectl_oras import __version__
from kubectl_oras.oci.defaults import DEFAULT_ARTIFACT_TYPE, Timeouts

REPO = Path(__file__).resolve().parents[2]

# What starting the command line must not load, by module name (a name covers its submodules).
HEAVY = (
    "kubectl_oras.oci.client", "kubectl_oras.oci.transport", "requests", "urllib3", "oras",  # the transfer engine
    "kubernetes_asyncio", "aiohttp", "kubectl_oras.kube", "kubectl_oras.tasks",  # the cluster stack
    "yaml", "rich", "kubectl_oras.retention.registry", "kubectl_oras.pods",
)

# Light modules under a heavy name: plain data the help shows (the annotation schema's table gives
# annotate its flags), importing nothing of the project; the pods package itself is empty.
LIGHT = ("kubectl_oras.pods", "kubectl_oras.pods.annotation_schema")

COMMANDS = ("push", "pull", "tags", "ls", "rm", "gc", "inject", "version", "install", "uninstall", "create-cache",
            "delete-cache", "status", "annotate", "logs", "completion", "cp", "tag", "inspect", "lineage")


def run(*args: str, **extra_env: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run the interpreter with ``args`` under -X importtime; the process and every module it imported."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "80", **extra_env}
    env.pop("PYTHONSTARTUP", None)
    done = subprocess.run([sys.executable, "-X", "importtime", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)
    imported = []
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rpartition("|")[2].strip()
            if name != "imported package":
                imported.append(name)
    return done, imported


# typer 0.29 builds a pydantic TypeAdapter for every parameter it processes (~0.12 s to load):
# pyproject.toml holds typer below it, and this holds pydantic out of every start.
TYPER_COERCION = ("pydantic", "pydantic_core")


def heavy_in(imported: list[str], heavy: tuple[str, ...] = HEAVY) -> list[str]:
    return sorted({name for name in imported for h in heavy
                   if (name == h or name.startswith(h + ".")) and name not in LIGHT})


@pytest.mark.parametrize("args", [
    ("--help",), (), ("version", "--client"), ("version", "--client", "-o", "json"), ("--version",),
    ("--context", "lab", "version", "--client", "-v", "6"),  # global flags before the command, moved
    ("-n", "lab", "version", "--client"),  # a namespace the command has no use for, left out as kubectl does
    *((command, "--help") for command in COMMANDS),
], ids=lambda args: " ".join(args) or "(no arguments)")
def test_help_and_version_load_no_engine(args):
    done, imported = run("-m", "kubectl_oras", *args)
    assert "kubectl_oras.cli" in imported, done.stderr[-2000:]  # the record covers the program's own imports
    assert heavy_in(imported, HEAVY + TYPER_COERCION) == []
    assert done.returncode == (2 if not args else 0), done.stderr[-2000:]  # no arguments: the help, as a usage error
    if args[1:] == ("--help",):  # every command shows how it is used
        assert f"kubectl oras {args[0]}" in done.stdout.partition("Examples:\n")[2], done.stdout


def test_version_prints_the_client_version():
    text, _ = run("-m", "kubectl_oras", "version", "--client")
    assert text.stdout == f"kubectl-oras {__version__}\n"
    as_json, _ = run("-m", "kubectl_oras", "version", "--client", "-o", "json")
    assert json.loads(as_json.stdout) == {"client": {"version": __version__}}


def test_the_check_sees_heavy_imports():
    """The same reading catches the engine when it is loaded: in a bare interpreter, and when a
    command runs (inject reads YAML and mutates pods, and fails here on a missing file)."""
    _, imported = run("-c", "import requests")
    assert {"requests", "urllib3"} <= set(heavy_in(imported))
    done, imported = run("-m", "kubectl_oras", "inject", "-f", "no-such-manifest.yaml")
    assert done.returncode == 1 and "no-such-manifest.yaml" in done.stderr
    assert {"yaml", "kubectl_oras.pods.workloads"} <= set(heavy_in(imported))


def test_the_light_modules_import_nothing_heavy():
    """What --help may load under a heavy name stays light: the pods package itself is empty, and
    the annotation schema imports nothing of the project but the OrasCache contract, plain data
    too (annotate's help reads its table)."""
    assert (REPO / "kubectl_oras" / "pods" / "__init__.py").read_text().strip() == ""
    done, imported = run("-c", "import kubectl_oras.pods.annotation_schema")
    assert done.returncode == 0, done.stderr[-2000:]
    project = sorted(name for name in imported if name.startswith("kubectl_oras."))
    assert project == sorted([*LIGHT, "kubectl_oras.orascache", "kubectl_oras.release"])
    assert heavy_in(imported, HEAVY + TYPER_COERCION) == []
    assert heavy_in(["kubectl_oras.pods.annotations"]) == ["kubectl_oras.pods.annotations"]  # the rest of pods/ is not


def test_the_light_defaults_are_the_engines():
    """The help shows these without loading the engine; the engine uses the same objects."""
    from kubectl_oras.cli.common import DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT
    from kubectl_oras.oci import manifest, transport

    assert transport.Timeouts is Timeouts and manifest.DEFAULT_ARTIFACT_TYPE == DEFAULT_ARTIFACT_TYPE
    assert (DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT) == ("10s", "30s")


def test_version_with_no_cluster_to_ask_loads_no_kubernetes_client(tmp_path):
    """Like `kubectl version`, plain `version` asks the cluster, but with no kubeconfig and no pod's
    ServiceAccount there is none: it answers with the client's version, and says why the
    controller's is unknown, without loading the client."""
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")}
    code = ("import runpy, sys; sys.argv = ['kubectl-oras', 'version']; "
            "import kubectl_oras.cli as c; c.app(prog_name='kubectl-oras')")
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", code], cwd=REPO, capture_output=True, text=True,
                          env={**env, "HOME": str(tmp_path), "PYTHONPATH": str(REPO)}, timeout=60)
    assert done.stdout == (f"kubectl-oras {__version__}\n"
                           "controller unknown: no cluster to ask (no kubeconfig, not in a pod)\n"), done.stderr[-2000:]
    imported = [line.rpartition("|")[2].strip() for line in done.stderr.splitlines() if line.startswith("import time:")]
    assert "kubectl_oras.kube.kubeconfig_files" in imported  # it looked (standard library alone)
    assert heavy_in(imported) == ["kubectl_oras.kube", "kubectl_oras.kube.kubeconfig_files"]


def test_the_cache_contract_and_the_release_image_cost_a_command_nothing():
    """kubectl_oras/orascache.py (a cache's name rule, port, default name) and release.py's
    RELEASE_IMAGE may be imported at the top of a module under cli/: they load nothing heavy and
    nothing else of the project."""
    done, imported = run("-c", "import kubectl_oras.orascache; from kubectl_oras.release import RELEASE_IMAGE")
    assert done.returncode == 0, done.stderr[-2000:]
    assert {name for name in imported if name.split(".")[0] == "kubectl_oras"} == \
        {"kubectl_oras", "kubectl_oras.orascache", "kubectl_oras.release"}
    assert heavy_in(imported, HEAVY + TYPER_COERCION) == []
