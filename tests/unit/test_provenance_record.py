"""Provenance as plain data: the manifest annotations, the in-toto statement, and reading both back."""

from __future__ import annotations

import json

import pytest

from kubectl_oras.pods.step import EXIT_CODE_ANNOTATION
from kubectl_oras.provenance import record, statement
from kubectl_oras.provenance.record import Input, Produced

A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64
IMAGE = "reg.example/tools/lammps@sha256:" + "c" * 64
STEP = Produced(builder="kubectl-oras agent 0.2.0", namespace="lab", workload="Job/lammps", pod="lammps-x2k",
                node="node-1", image=IMAGE, exit_code=0, started="2026-12-07T10:00:00Z", finished="2026-12-07T10:05:00Z",
                inputs=(Input("metric/hwloc:iter-1", A),), argv=("lmp", "-in", "in.lj"),
                shaped_by={"oras.converged-computing.github.io/output-uri": "metric/lammps:iter-1"})


def test_a_steps_annotations_name_everything_and_reuse_the_exit_code_key():
    said = record.manifest_annotations(STEP)
    assert said == {
        "dev.kubectl-oras.namespace": "lab", "dev.kubectl-oras.workload": "Job/lammps",
        "dev.kubectl-oras.pod": "lammps-x2k", "dev.kubectl-oras.image": IMAGE, "dev.kubectl-oras.node": "node-1",
        EXIT_CODE_ANNOTATION: "0", "dev.kubectl-oras.started": "2026-12-07T10:00:00Z",
        "dev.kubectl-oras.finished": "2026-12-07T10:05:00Z", "dev.kubectl-oras.inputs": f"metric/hwloc:iter-1@{A}",
    }
    assert record.read_annotations({**said, "other": "x", "dev.kubectl-oras.pod ": 3}) == said
    assert record.producer_said(said) == "Job/lammps pod lammps-x2k"


def test_a_push_by_hand_says_who_pushed_and_nothing_of_a_step():
    said = record.manifest_annotations(Produced(builder="kubectl-oras 0.2.0", pushed_by="context lab", paths=("a.txt",)))
    assert said == {"dev.kubectl-oras.pushed-by": "context lab"}
    assert record.producer_said(said) == "pushed by context lab"


def test_inputs_are_read_back_and_an_entry_without_a_digest_is_skipped():
    assert record.inputs_in(f"a/b:1@{A}, c:2@{B},d:3,@{A}") == [Input("a/b:1", A), Input("c:2", B)]


def test_a_steps_statement_is_in_toto_v1_with_slsa_provenance_v1():
    doc = statement.statement(subject_name="metric/lammps:iter-1", subject_digest=B, produced=STEP)
    assert doc["_type"] == "https://in-toto.io/Statement/v1"
    assert doc["predicateType"] == "https://slsa.dev/provenance/v1"
    assert doc["subject"] == [{"name": "metric/lammps:iter-1", "digest": {"sha256": "b" * 64}}]
    definition = doc["predicate"]["buildDefinition"]
    assert definition["buildType"] == statement.STEP_BUILD
    assert definition["externalParameters"] == {"argv": ["lmp", "-in", "in.lj"], "annotations": dict(STEP.shaped_by)}
    assert definition["internalParameters"] == {"namespace": "lab", "workload": "Job/lammps", "pod": "lammps-x2k",
                                                "node": "node-1", "exitCode": 0}
    assert definition["resolvedDependencies"] == [
        {"name": "metric/hwloc:iter-1", "digest": {"sha256": "a" * 64}},
        {"uri": f"oci://{IMAGE}", "digest": {"sha256": "c" * 64}},
    ]
    assert doc["predicate"]["runDetails"] == {"builder": {"id": "kubectl-oras agent 0.2.0"},
                                              "metadata": {"startedOn": "2026-12-07T10:00:00Z",
                                                           "finishedOn": "2026-12-07T10:05:00Z"}}
    read = statement.parse(statement.encode(doc), what="referrer x")
    assert (read.subject, read.inputs, read.image, read.builder) == (B, (Input("metric/hwloc:iter-1", A),), IMAGE,
                                                                      "kubectl-oras agent 0.2.0")


def test_an_image_not_pinned_is_a_dependency_without_a_digest():
    assert statement.image_dependency("busybox:1.36") == {"uri": "oci://busybox:1.36"}


def test_a_push_by_hand_names_the_pusher_and_its_paths():
    doc = statement.statement(subject_name="r:t", subject_digest=A,
                              produced=Produced(builder="kubectl-oras 0.2.0", pushed_by="local user", paths=("x",)))
    definition = doc["predicate"]["buildDefinition"]
    assert definition["buildType"] == statement.PUSH_BUILD
    assert definition["externalParameters"] == {"paths": ["x"]}
    assert definition["internalParameters"] == {"pushedBy": "local user"}


@pytest.mark.parametrize("raw, field", [
    (b"not json", "not JSON"),
    (json.dumps({"_type": "x"}).encode(), "_type"),
    (json.dumps({"_type": statement.STATEMENT_TYPE, "predicateType": "y"}).encode(), "predicateType"),
    (json.dumps({"_type": statement.STATEMENT_TYPE, "predicateType": statement.PREDICATE_TYPE,
                 "subject": [{"digest": {"sha256": "XYZ"}}]}).encode(), "subject[0].digest"),
    (json.dumps({"_type": statement.STATEMENT_TYPE, "predicateType": statement.PREDICATE_TYPE,
                 "subject": [{"digest": {"sha256": "a" * 64}}], "predicate": []}).encode(), "predicate"),
])
def test_a_blob_that_is_not_a_statement_is_refused_naming_the_field(raw, field):
    with pytest.raises(statement.InvalidStatement, match=f"referrer sha256:1: .*{field}".replace("[", r"\[")):
        statement.parse(raw, what="referrer sha256:1")
