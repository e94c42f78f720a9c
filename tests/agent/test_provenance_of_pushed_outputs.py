"""Tier 1: what the sidecar pushes says where it came from: manifest annotations and a statement
attached as a referrer, read back from a real registry."""

from __future__ import annotations

import dataclasses

import pytest

from kubectl_oras.oci.client import RegistryClient
from kubectl_oras.oci.push import push_artifact
from kubectl_oras.oci.reference import Reference
from kubectl_oras.oci.referrers import read_referrer, referrers
from kubectl_oras.pods.step import EXIT_CODE_ANNOTATION, STEP_ENV, StepDescription
from kubectl_oras.provenance import record, statement
from kubectl_oras.provenance.record import Input
from tests.agent.protocol import LocalPod

IMAGE = "reg.example/tools/sh@sha256:" + "c" * 64
DOWNWARD = {"KUBECTL_ORAS_POD_NAME": "join-x2k", "KUBECTL_ORAS_POD_NAMESPACE": "lab", "KUBECTL_ORAS_NODE_NAME": "node-2"}


@pytest.fixture
def step_pod(any_registry, tmp_path):
    """A pod of the agent's processes, and a client of its registry."""
    pod = LocalPod(any_registry.host, tmp_path)
    yield pod, RegistryClient(any_registry.host, plain_http=True)
    pod.cleanup()


@pytest.mark.parametrize("runs_once", [False, True], ids=["init-pulls", "sidecar-pulls-and-ends"])
def test_an_output_names_its_pod_image_and_inputs_by_digest(step_pod, any_registry, repo, tmp_path, runs_once):
    pod, client = step_pod
    pod.runs_once = runs_once
    (tmp_path / "seed.txt").write_text("seed")
    parent = push_artifact(client, Reference(any_registry.host, f"{repo}-in", "v1"), [str(tmp_path / "seed.txt")])
    pod.inputs = [f"{repo}-in:v1"]
    pod.output = f"{repo}:v1"
    pod.output_path = "out.txt"
    step = dataclasses.replace(StepDescription.from_json(pod.env()[STEP_ENV]), image=IMAGE, workload="Job/join",
                               argv=("sh", "-c", "cp seed.txt out.txt"))
    told = {STEP_ENV: step.to_json(), **DOWNWARD, "ORAS_PASS": "never-recorded-pass"}
    if runs_once:
        pod.start_sidecar(**told)
        assert pod.hook(**told).returncode == 0
    else:
        assert pod.init(**told).returncode == 0
        pod.start_sidecar(**told)
    code, _, err = pod.run_step("sh", "-c", "cp seed.txt out.txt")
    assert code == 0, err
    if runs_once:  # it ends by itself
        assert pod.sidecar.wait(timeout=30) == 0
    manifest, _, digest = client.fetch_manifest(repo, "v1", what="check")
    said = record.read_annotations(manifest["annotations"])
    assert {k: said[k] for k in (record.NAMESPACE, record.WORKLOAD, record.POD, record.IMAGE, record.NODE,
                                 EXIT_CODE_ANNOTATION, record.INPUTS)} == {
        record.NAMESPACE: "lab", record.WORKLOAD: "Job/join", record.POD: "join-x2k", record.IMAGE: IMAGE,
        record.NODE: "node-2", EXIT_CODE_ANNOTATION: "0", record.INPUTS: f"{repo}-in:v1@{parent.digest}"}
    assert said[record.STARTED] <= said[record.FINISHED]
    found = referrers(client, repo, digest)
    assert [d.get("artifactType") for d in found] == [statement.MEDIA_TYPE]
    raw = read_referrer(client, repo, found[0])
    read = statement.parse(raw, what="the statement")
    assert (read.subject, read.inputs, read.image) == (digest, (Input(f"{repo}-in:v1", parent.digest),), IMAGE)
    assert b"never-recorded-pass" not in raw
