"""Tier 3: the example Snakemake workflow (examples/snakemake/) with Snakemake's Kubernetes
executor on the local cluster (two nodes): every job a pod of the job image
(integrations/snakemake/Containerfile, preloaded like the project image, no network for the
plugin's auto-deploy), each reaching the cache made by `kubectl oras create-cache` at its Service
with the credentials Snakemake hands its jobs through a Secret; no credential in a pod spec, a
job's command line or Snakemake's log; the report pulled with `kubectl oras pull`, byte for byte."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest

from kubectl_oras import __version__
from kubectl_oras.orascache import PASSWORD_KEY, USER_KEY, auth_secret_name
from localcluster.snakemake_image import snakemake_archive
from tests.cli.test_snakemake_workflow import INPUTS, SNAKEFILE, jobs_run, run_example
from tests.cluster.apply import new_namespace
from tests.e2e.test_snakemake_through_a_cache import REPORT, kubectl_oras
from tests.e2e.test_workflow_on_a_node import cache_client, cluster  # noqa: F401 - the fixture

JOB_IMAGE = f"kubectl-oras-snakemake:{__version__}"


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


def test_every_job_is_a_pod_that_reaches_the_cache_with_no_credential_in_sight(lab, tmp_path):
    cp, ns = lab
    secret = cp.session().get(f"{cp.server}/api/v1/namespaces/{ns}/secrets/{auth_secret_name('oras')}").json()
    user, password = (base64.b64decode(secret["data"][key]).decode() for key in (USER_KEY, PASSWORD_KEY))
    for name, text in INPUTS.items():
        (tmp_path / name).write_text(text)
        pushed = kubectl_oras("push", f"example/data:{name.replace(' ', '_20')}", name, "-n", ns, cp=cp, cwd=tmp_path)
        assert pushed.returncode == 0, pushed.stderr

    executor = ["--executor", "kubernetes", "--kubernetes-namespace", ns, "--kubernetes-omit-job-cleanup",
                "--container-image", JOB_IMAGE, "--storage-oras-cache", "oras", "--storage-oras-namespace", ns]
    env = {"KUBECONFIG": str(cp.kubeconfig),
           "SNAKEMAKE_STORAGE_ORAS_USERNAME": user, "SNAKEMAKE_STORAGE_ORAS_PASSWORD": password}
    # A remote job gets the workflow's sources from the directory Snakemake starts in: the Snakefile there.
    (tmp_path / "work").mkdir()
    shutil.copy2(SNAKEFILE, tmp_path / "work" / "Snakefile")
    run = run_example("example", tmp_path / "work", executor, env, snakefile=Path("Snakefile"))
    assert run.returncode == 0, run.stderr[-5000:]
    ran = jobs_run(run)
    assert ran == {"clean": 2, "count": 2, "shout": 2, "merge": 1, "plots": 1, "report": 1, "all": 1}

    jobs = cp.session().get(f"{cp.server}/apis/batch/v1/namespaces/{ns}/jobs").json()["items"]
    pods = cp.session().get(f"{cp.server}/api/v1/namespaces/{ns}/pods", params={"labelSelector": "job-name"}).json()["items"]
    assert len(jobs) == sum(ran.values()) - ran["all"]  # every job but the local target rule, a Job of its own
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {JOB_IMAGE}
    assert all(p["status"]["phase"] == "Succeeded" for p in pods), [p["status"] for p in pods]
    assert password not in json.dumps(jobs) + json.dumps(pods)  # pod specs and the jobs' command lines
    logs = "".join(p.read_text() for p in (tmp_path / "work" / ".snakemake" / "log").glob("*.log"))
    assert password not in run.stdout + run.stderr + logs

    pulled = kubectl_oras("pull", "example/report:Summary_20Report.txt", "-o", "out", "-n", ns, cp=cp, cwd=tmp_path)
    assert pulled.returncode == 0, pulled.stderr
    assert (tmp_path / "out" / "Summary Report.txt").read_bytes() == REPORT.encode()
