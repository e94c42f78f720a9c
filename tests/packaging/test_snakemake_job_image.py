"""The job image for Snakemake's Kubernetes executor (integrations/snakemake/Containerfile): what
the executor runs first in every job, its auto-deploy of storage plugins, succeeds with no
network, and the Snakemake in it is the pinned one."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from snakemake import PIP_DEPLOYMENTS_PATH
from snakemake_interface_storage_plugins.registry import StoragePluginRegistry

from localcluster.snakemake_image import REQUIREMENTS, snakemake_archive


@pytest.fixture(scope="module")
def job_container():
    container = subprocess.run(["buildah", "from", "--quiet", f"oci-archive:{snakemake_archive()}"],
                               capture_output=True, text=True, check=True).stdout.strip()
    yield container
    subprocess.run(["buildah", "rm", container], capture_output=True)


def in_job(container: str, command: str) -> subprocess.CompletedProcess:
    """``command`` as the executor runs it in a job: /bin/sh -c, the image's user, in an empty
    working directory, and here with no network at all."""
    return subprocess.run(["buildah", "run", "--network=none", "--user", "65532:65532", container, "--",
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
    version = in_job(job_container, "python3 -m snakemake --version && python3 -c 'import snakemake_storage_plugin_oras'")
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == pinned
