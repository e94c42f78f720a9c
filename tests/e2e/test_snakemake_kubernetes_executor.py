"""Tier 3: Snakemake's Kubernetes executor on the local cluster (two nodes) with every file in the
cache made by `kubectl oras create-cache`: every job a pod of the job image
(integrations/snakemake/Containerfile, preloaded like the project image, no network for the
plugin's auto-deploy), each reaching the cache at its Service with the credentials Snakemake hands
its jobs through a Secret, and no credential in a pod spec, a job's command line or Snakemake's log.
Two workloads: the example workflow (examples/snakemake/) run as a user runs it, its report pulled
with `kubectl oras pull` byte for byte; and Snakemake's own executor tests
(`snakemake.common.tests.TestWorkflowsBase`, which the Kubernetes executor's own suite runs with
MinIO), in this process through Snakemake's API, with the oras provider instead."""

from __future__ import annotations

import base64
import dataclasses
import json
import shutil
from pathlib import Path

import kubernetes.config.kube_config
import pytest
from snakemake.common.argparse import ArgumentParser
from snakemake.common.tests import TestWorkflowsBase
from snakemake_executor_plugin_kubernetes import ExecutorSettings
from snakemake_interface_storage_plugins.registry import StoragePluginRegistry

from kubectl_oras import __version__, session
from kubectl_oras.orascache import PASSWORD_KEY, USER_KEY, auth_secret_name
from localcluster.snakemake_image import snakemake_archive
from tests.cli.test_snakemake_workflow import INPUTS, SNAKEFILE, jobs_run, run_example
from tests.cluster.apply import new_namespace
from tests.e2e.test_snakemake_through_a_cache import REPORT, kubectl_oras
from tests.e2e.test_workflow_on_a_node import cache_client, cluster  # noqa: F401 - the fixture

JOB_IMAGE = f"kubectl-oras-snakemake:{__version__}"
CREDENTIALS = ("SNAKEMAKE_STORAGE_ORAS_USERNAME", "SNAKEMAKE_STORAGE_ORAS_PASSWORD")


@pytest.fixture
def lab(cluster, local_cluster, tmp_path):  # noqa: F811 - the fixture imported above
    cp, _ = cluster
    local_cluster.import_archive(snakemake_archive(), f"docker.io/library/{JOB_IMAGE}")
    ns = new_namespace(cp, "snakek8s")
    made = kubectl_oras("create-cache", "oras", "-n", ns, "--wait", "--timeout", "3m", cp=cp, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    cache_client(cp, ns, "oras")  # until kube-proxy has programmed its Service
    yield cp, ns
    cp.session().delete(f"{cp.server}/api/v1/namespaces/{ns}")


def cache_credentials(cp, ns: str) -> tuple[str, str]:
    """The user and password of the cache's auth Secret, as a user of a remote executor sets them."""
    secret = cp.session().get(f"{cp.server}/api/v1/namespaces/{ns}/secrets/{auth_secret_name('oras')}").json()
    user, password = (base64.b64decode(secret["data"][key]).decode() for key in (USER_KEY, PASSWORD_KEY))
    return user, password


def checked_jobs(cp, ns: str, password: str) -> list[dict]:
    """The executor's Jobs in ``ns``, once each was seen to have run as a pod of the job image whose
    container ended with 0 and took the credentials from a Secret, with the password in none of them or their pods."""
    jobs = cp.session().get(f"{cp.server}/apis/batch/v1/namespaces/{ns}/jobs").json()["items"]
    pods = cp.session().get(f"{cp.server}/api/v1/namespaces/{ns}/pods", params={"labelSelector": "job-name"}).json()["items"]
    assert len(pods) == len(jobs), [p["metadata"]["name"] for p in pods]  # backoffLimit 0: one pod a Job
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {JOB_IMAGE}
    # What the executor reads: its container's end. The pod's phase may still say Running then.
    ended = [s["state"].get("terminated", {}).get("exitCode") for p in pods for s in p["status"]["containerStatuses"]]
    assert ended == [0] * len(pods), [p["status"] for p in pods]
    for pod in pods:
        given = {e["name"]: e for e in pod["spec"]["containers"][0].get("env", [])}
        assert all("secretKeyRef" in given[name].get("valueFrom", {}) for name in CREDENTIALS), given
    assert password not in json.dumps(jobs) + json.dumps(pods)  # pod specs and the jobs' command lines
    return jobs


def test_every_job_is_a_pod_that_reaches_the_cache_with_no_credential_in_sight(lab, tmp_path):
    cp, ns = lab
    user, password = cache_credentials(cp, ns)
    for name, text in INPUTS.items():
        (tmp_path / name).write_text(text)
        pushed = kubectl_oras("push", f"example/data:{name.replace(' ', '_20')}", name, "-n", ns, cp=cp, cwd=tmp_path)
        assert pushed.returncode == 0, pushed.stderr

    executor = ["--executor", "kubernetes", "--kubernetes-namespace", ns, "--kubernetes-omit-job-cleanup",
                "--container-image", JOB_IMAGE, "--storage-oras-cache", "oras", "--storage-oras-namespace", ns]
    env = {"KUBECONFIG": str(cp.kubeconfig), CREDENTIALS[0]: user, CREDENTIALS[1]: password}
    # A remote job gets the workflow's sources from the directory Snakemake starts in: the Snakefile there.
    (tmp_path / "work").mkdir()
    shutil.copy2(SNAKEFILE, tmp_path / "work" / "Snakefile")
    run = run_example("example", tmp_path / "work", executor, env, snakefile=Path("Snakefile"))
    assert run.returncode == 0, run.stderr[-5000:]
    ran = jobs_run(run)
    assert ran == {"clean": 2, "count": 2, "shout": 2, "merge": 1, "plots": 1, "report": 1, "all": 1}

    jobs = checked_jobs(cp, ns, password)
    assert len(jobs) == sum(ran.values()) - ran["all"]  # every job but the local target rule, a Job of its own
    logs = "".join(p.read_text() for p in (tmp_path / "work" / ".snakemake" / "log").glob("*.log"))
    assert password not in run.stdout + run.stderr + logs

    pulled = kubectl_oras("pull", "example/report:Summary_20Report.txt", "-o", "out", "-n", ns, cp=cp, cwd=tmp_path)
    assert pulled.returncode == 0, pulled.stderr
    assert (tmp_path / "out" / "Summary Report.txt").read_bytes() == REPORT.encode()


ROOT = "upstream"  # the workflows' root in the cache: every file is an artifact under it


class TestSnakemakesOwnWorkflowTestsWithTheCache(TestWorkflowsBase):
    """Snakemake's `test_simple_workflow` and `test_group_workflow`, run through its API in this
    process: the Kubernetes executor, no shared filesystem, `oras` the default storage provider;
    the credentials reach Snakemake only as their variables (read as its command line reads them),
    the cluster only as KUBECONFIG. After each, what the upstream test does not look at: the Jobs
    ran as pods of the job image that took the credentials from a Secret, the workflow's outputs
    are tags in the cache, and the sources archive Snakemake put there for its jobs is gone."""

    __test__ = True
    namespace = ""

    def get_executor(self) -> str:
        return "kubernetes"

    def get_executor_settings(self) -> ExecutorSettings:
        return ExecutorSettings(namespace=self.namespace, omit_job_cleanup=True)  # the Jobs kept, to be read after

    def get_assume_shared_fs(self) -> bool:
        return False

    def get_default_storage_provider(self) -> str:
        return "oras"

    def get_default_storage_prefix(self) -> str:
        return f"oras://{ROOT}"

    def get_default_storage_provider_settings(self):
        # As Snakemake's command line makes them: the flags, and each env_var setting from its variable.
        plugin = StoragePluginRegistry().get_plugin("oras")
        parser = ArgumentParser()
        plugin.register_cli_args(parser, "storage")
        flags = parser.parse_args(["--storage-oras-cache", "oras", "--storage-oras-namespace", self.namespace])
        return {"oras": plugin.get_settings(flags)}

    def get_remote_execution_settings(self):
        return dataclasses.replace(super().get_remote_execution_settings(), container_image=JOB_IMAGE)

    def enter(self, lab, monkeypatch, tmp_path) -> tuple[object, str]:
        """The lab's cluster and cache, given to Snakemake through the environment alone."""
        cp, self.namespace = lab
        user, password = cache_credentials(cp, self.namespace)
        monkeypatch.setenv(CREDENTIALS[0], user)
        monkeypatch.setenv(CREDENTIALS[1], password)
        for variable in ("ORAS_USER", "ORAS_PASS"):
            monkeypatch.delenv(variable, raising=False)
        monkeypatch.setenv("KUBECONFIG", str(cp.kubeconfig))
        # The executor's client (kubernetes 32) reads KUBECONFIG once, when first imported, and
        # importing snakemake.api imports every executor plugin: this module's imports did it already.
        monkeypatch.setattr(kubernetes.config.kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(cp.kubeconfig))
        monkeypatch.chdir(tmp_path)  # Snakemake moves into the workflow's directory; back after the test
        return cp, password

    def check(self, cp, password: str, *, jobs: int, outputs: set[str]) -> None:
        assert len(checked_jobs(cp, self.namespace, password)) == jobs
        repositories = {reference.split(":")[0] for reference in outputs}
        with session(cache="oras", namespace=self.namespace, kubeconfig=str(cp.kubeconfig)) as oras:
            stored = {f"{repository}:{tag}" for repository in repositories for tag in oras.tags(repository)}
        assert outputs <= stored, sorted(stored)
        assert not [ref for ref in stored if ":snakemake-workflow-sources." in ref], sorted(stored)

    def test_simple_workflow(self, lab, monkeypatch, tmp_path):
        cp, password = self.enter(lab, monkeypatch, tmp_path)
        super().test_simple_workflow(tmp_path)
        # Jobs a, b, c and d twice; rule all is local.
        self.check(cp, password, jobs=5, outputs={f"{ROOT}:test1.out", f"{ROOT}:test2.out", f"{ROOT}:test3.out",
                                                  f"{ROOT}/res:somedir1.out", f"{ROOT}/res/somedir2:subdir.out"})

    def test_group_workflow(self, lab, monkeypatch, tmp_path):
        cp, password = self.enter(lab, monkeypatch, tmp_path)
        super().test_group_workflow(tmp_path)
        # One Job for each sample's group (its a and b together), one for c.
        self.check(cp, password, jobs=4, outputs={f"{ROOT}:test2.{n}.out" for n in (1, 2, 3)} | {f"{ROOT}:test3.out"})
