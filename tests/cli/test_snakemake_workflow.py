"""A real Snakemake run of examples/snakemake/ with every file in a registry (auth on) through the
oras storage plugin: the whole DAG, a second run with nothing to do, a run after one input changed
that re-runs exactly its descendants, and what a user sees when the registry cannot be used."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import kubectl_oras
from tests.support.faulty_proxy import FaultyProxy
from tests.support.net import free_port
from tests.support.registries import htpasswd_file, start_registry

REPO = Path(__file__).resolve().parents[2]
SNAKEFILE = REPO / "examples" / "snakemake" / "Snakefile"
USER, PASSWORD = "workflow", "Sn4kemake-secret"
INPUTS = {"Alpha Reads.txt": "# header\nacgt\nggcc\n", "beta Reads.txt": "ttaa\n"}
_runs = itertools.count()


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    d = tmp_path_factory.mktemp("secured")
    proc = start_registry("distribution-3", htpasswd=htpasswd_file(d, USER, PASSWORD))
    yield proc
    proc.stop()


@pytest.fixture
def prefix() -> str:
    return f"run-{os.getpid()}-{next(_runs)}"


def put_inputs(host: str, prefix: str, tmp_path: Path, names=tuple(INPUTS)) -> None:
    """The workflow's inputs, pushed as docs/snakemake.md says (one artifact each)."""
    source = tmp_path / "inputs"
    source.mkdir(exist_ok=True)
    with kubectl_oras.session(registry=host, plain_http=True, username=USER, password=PASSWORD) as oras:
        for name in names:
            (source / name).write_text(INPUTS[name])
            oras.push(f"{prefix}/data:{name.replace(' ', '_20')}", [str(source / name)])


def run_example(prefix: str, workdir: Path, storage: list[str], env: dict[str, str],
                snakefile: Path = SNAKEFILE) -> subprocess.CompletedProcess:
    """The example workflow, on this machine, with ``storage`` (the plugin's settings) and ``env``."""
    workdir.mkdir(exist_ok=True)
    environment = {k: v for k, v in os.environ.items() if k not in ("ORAS_USER", "ORAS_PASS")} | env
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(snakefile), "--default-storage-provider", "oras",
         "--default-storage-prefix", f"oras://{prefix}", *storage, "-j", "2"],
        cwd=workdir, env=environment, capture_output=True, text=True, timeout=600)


def snakemake(host: str, prefix: str, workdir: Path) -> subprocess.CompletedProcess:
    """The example against the registry ``host``, its credentials as Snakemake's env_var settings."""
    return run_example(prefix, workdir, ["--storage-oras-registry", host, "--storage-oras-plain-http"],
                       {"SNAKEMAKE_STORAGE_ORAS_USERNAME": USER, "SNAKEMAKE_STORAGE_ORAS_PASSWORD": PASSWORD})


def jobs_run(result: subprocess.CompletedProcess) -> dict[str, int]:
    """Snakemake's job stats table: how many jobs of each rule ran."""
    table = result.stderr.split("Job stats:", 1)[1].split("total", 1)[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.MULTILINE)}


def test_the_example_runs_then_is_up_to_date_then_reruns_only_what_an_input_changed(secured, prefix, tmp_path):
    put_inputs(secured.host, prefix, tmp_path)
    first = snakemake(secured.host, prefix, tmp_path / "work")
    assert first.returncode == 0, first.stderr[-3000:]
    assert jobs_run(first) == {"clean": 2, "count": 2, "shout": 2, "merge": 1, "plots": 1, "report": 1, "all": 1}
    assert PASSWORD not in first.stdout + first.stderr

    # Any file of the run, pulled as docs/snakemake.md says.
    with kubectl_oras.session(registry=secured.host, plain_http=True, username=USER, password=PASSWORD) as oras:
        pulled = oras.pull(f"{prefix}/report:Summary_20Report.txt", str(tmp_path / "out"))
        oras.pull(f"{prefix}/plots:Per_20Sample", str(tmp_path / "out"))
    assert pulled.files[0].title == "Summary Report.txt"
    assert (tmp_path / "out" / "Summary Report.txt").read_text() == (
        "Alpha\t2\nbeta\t1\ntotal\t3\nAlpha Upper.txt\nbeta Upper.txt\n")
    assert (tmp_path / "out" / "Per Sample" / "text" / "Alpha Upper.txt").read_text() == "ACGT\nGGCC\n"

    second = snakemake(secured.host, prefix, tmp_path / "work")
    assert second.returncode == 0, second.stderr[-3000:]
    assert "Nothing to be done" in second.stderr
    logs = "".join(p.read_text() for p in (tmp_path / "work" / ".snakemake" / "log").glob("*.log"))
    assert "Nothing to be done" in logs and PASSWORD not in logs  # Snakemake's own log holds no credential

    put_inputs(secured.host, prefix, tmp_path, names=["Alpha Reads.txt"])  # "touched": pushed again, newer
    third = snakemake(secured.host, prefix, tmp_path / "work")
    assert third.returncode == 0, third.stderr[-3000:]
    assert jobs_run(third) == {"clean": 1, "count": 1, "shout": 1, "merge": 1, "plots": 1, "report": 1, "all": 1}


def test_an_unreachable_registry_ends_the_run_naming_the_file_and_the_registry(prefix, tmp_path):
    host = f"127.0.0.1:{free_port()}"
    result = snakemake(host, prefix, tmp_path / "work")
    assert result.returncode != 0
    said = [line for line in result.stderr.splitlines() if line.strip().startswith("cannot ") and f"registry {host}" in line]
    assert said and f"oras://{prefix}/" in said[0], result.stderr[-3000:]
    assert "Traceback" not in result.stderr


def test_a_password_given_as_a_flag_ends_the_run_naming_the_variable_to_use(prefix, tmp_path):
    host = f"127.0.0.1:{free_port()}"  # nothing listens: the run must end before reaching it
    result = run_example(prefix, tmp_path / "work",
                         ["--storage-oras-registry", host, "--storage-oras-plain-http", "--storage-oras-pass", PASSWORD],
                         {"SNAKEMAKE_STORAGE_ORAS_USERNAME": USER})
    assert result.returncode != 0
    said = [line for line in result.stderr.splitlines() if line.startswith("--storage-oras-pass: ")]
    assert said and "set the variable SNAKEMAKE_STORAGE_ORAS_PASSWORD instead" in said[0], result.stderr[-3000:]
    assert PASSWORD not in result.stdout + result.stderr
    assert not (tmp_path / "work" / "results").exists()


def test_a_missing_input_ends_the_run_naming_it(secured, prefix, tmp_path):
    put_inputs(secured.host, prefix, tmp_path, names=["Alpha Reads.txt"])
    result = snakemake(secured.host, prefix, tmp_path / "work")
    assert result.returncode != 0
    assert f"oras://{prefix}/data/beta Reads.txt" in result.stderr, result.stderr[-3000:]
    assert "Traceback" not in result.stderr


def test_a_registry_failing_mid_run_ends_it_naming_the_file_with_nothing_half_written(secured, prefix, tmp_path):
    put_inputs(secured.host, prefix, tmp_path)
    proxy = FaultyProxy(secured.host).start()
    try:
        # The DAG is built (listings and manifests answer), then every input's content is a 500.
        proxy.add(lambda method, path: method == "GET" and f"/{prefix}/data/blobs/" in path, "status", 500,
                  times=10_000)
        result = snakemake(proxy.host, prefix, tmp_path / "work")
    finally:
        proxy.stop()
    assert result.returncode != 0
    said = [line for line in result.stderr.splitlines()
            if line.strip().startswith("cannot retrieve ") and f"registry {proxy.host}" in line and "500" in line]
    assert said and f"oras://{prefix}/data/" in said[0], result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    local = tmp_path / "work" / ".snakemake" / "storage" / "oras" / prefix
    left = [p for p in local.rglob("*") if p.is_file()] if local.exists() else []
    assert left == []  # no partial input, no staging directory
