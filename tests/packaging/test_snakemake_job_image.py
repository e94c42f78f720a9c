"""The job image for Snakemake's Kubernetes executor (integrations/snakemake/Containerfile): what
the executor runs first in every job, its auto-deploy of storage plugins, succeeds with no
network, the Snakemake in it is the pinned one, and a job of the example workflow runs in it as
the image's user, its input and output in a registry with auth on."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from snakemake import PIP_DEPLOYMENTS_PATH
from snakemake_interface_storage_plugins.registry import StoragePluginRegistry

import kubectl_oras
from localcluster.snakemake_image import REQUIREMENTS, snakemake_archive
from tests.cli.test_snakemake_workflow import SNAKEFILE
from tests.support.registries import htpasswd_file, start_registry

USER, PASSWORD = "job", "J0b-secret"


@pytest.fixture(scope="module")
def job_container():
    container = subprocess.run(["buildah", "from", "--quiet", f"oci-archive:{snakemake_archive()}"],
                               capture_output=True, text=True, check=True).stdout.strip()
    yield container
    subprocess.run(["buildah", "rm", container], capture_output=True)


def in_job(container: str, command: str, *, network: str = "none", env: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """``command`` as the executor runs it in a job: /bin/sh -c, the image's user, in a working
    directory of its own, with no network unless ``network`` says."""
    environment = [arg for variable in env for arg in ("--env", variable)]
    return subprocess.run(["buildah", "run", f"--network={network}", "--user", "65532:65532", *environment, container, "--",
                           "/bin/sh", "-c", f"mkdir -p /tmp/workdir && cd /tmp/workdir && {command}"],
                          capture_output=True, text=True, timeout=300)


def test_the_executors_auto_deploy_of_the_plugin_needs_no_network(job_container):
    package = StoragePluginRegistry().get_plugin_package_name("oras")
    # The command snakemake/spawn_jobs.py: precommand writes for the storage plugins installed.
    deployed = in_job(job_container, f"pip install --target '{PIP_DEPLOYMENTS_PATH}' {package}"
                                     f" && ls {PIP_DEPLOYMENTS_PATH}")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert "snakemake_storage_plugin_oras\n" in deployed.stdout


def test_the_image_runs_the_pinned_snakemake_with_the_plugin(job_container):
    pinned = next(line.split("==")[1] for line in Path(REQUIREMENTS).read_text().splitlines()
                  if line.startswith("snakemake=="))
    # `python`, as the executor's job command line says it (snakemake_interface_executor_plugins'
    # RemoteExecutor.get_python_executable with no shared filesystem).
    version = in_job(job_container, "python -m snakemake --version && python -c 'import snakemake_storage_plugin_oras'")
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == pinned


def test_a_job_of_the_example_runs_in_it_as_its_user_through_the_plugin(job_container, tmp_path):
    registry = start_registry("distribution-3", htpasswd=htpasswd_file(tmp_path, USER, PASSWORD))
    try:
        (tmp_path / "beta Reads.txt").write_text("ttaa\n")
        with kubectl_oras.session(registry=registry.host, plain_http=True, username=USER, password=PASSWORD) as oras:
            oras.push("example/data:beta_20Reads.txt", [str(tmp_path / "beta Reads.txt")])
        subprocess.run(["buildah", "copy", "--chown", "65532:65532", job_container, str(SNAKEFILE), "/tmp/workdir/Snakefile"],
                       capture_output=True, check=True)
        # One job as the executor's job command line runs it (--mode remote, no shared filesystem),
        # its credentials as the variables the executor's Secret sets.
        ran = in_job(job_container, "python -m snakemake -s Snakefile --target-jobs clean:sample=beta --allowed-rules clean"
                                    " --cores 1 --mode remote --shared-fs-usage none --nolock --default-storage-provider oras"
                                    f" --default-storage-prefix oras://example --storage-oras-registry {registry.host}"
                                    " --storage-oras-plain-http",
                     network="host",
                     env=(f"SNAKEMAKE_STORAGE_ORAS_USERNAME={USER}", f"SNAKEMAKE_STORAGE_ORAS_PASSWORD={PASSWORD}"))
        assert ran.returncode == 0, ran.stderr[-3000:]
        with kubectl_oras.session(registry=registry.host, plain_http=True, username=USER, password=PASSWORD) as oras:
            oras.pull("example/clean:beta.txt", str(tmp_path / "out"))
        assert (tmp_path / "out" / "beta.txt").read_bytes() == b"ttaa\n"
    finally:
        registry.stop()
