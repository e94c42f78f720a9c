"""No environment value and no credential reaches what the sidecar records of a step: its
record is read from the step description, the pod's downward API variables by name, and the share."""

from __future__ import annotations

import json
import os

from kubectl_oras.agent.provenance import producer, pulled_inputs, record_pulled
from kubectl_oras.pods.share import Share
from kubectl_oras.pods.step import POD_ENV, StepDescription
from kubectl_oras.provenance import statement
from kubectl_oras.provenance.record import Input, manifest_annotations

DIGEST = "sha256:" + "a" * 64
SECRETS = {"ORAS_USER": "alice-the-user", "ORAS_PASS": "hunter2-pass", "ORAS_PUSH_PASS": "push-secret-9",
           "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI", "HOME": "/home/nobody-else", "KUBECTL_ORAS_STEP": "{step-json}"}
DOWNWARD = dict(zip(POD_ENV, ("lmp-x2k", "lab", "node-1"), strict=True))


def step_in(share: Share) -> StepDescription:
    return StepDescription(registry="oras.lab.svc:5000", plain_http=True, inputs=("metric/hwloc:iter-1",),
                           output="metric/lmp:iter-1", unpack=True, push_on_failure="never", debug=False,
                           share=share.root, image="reg.example/lmp:1", argv=("lmp", "--token", "$(ORAS_PASS)"),
                           workload="Job/lmp", shaped_by=(("oras.converged-computing.github.io/output-path", "/out"),))


def test_a_statement_and_the_annotations_hold_no_value_of_the_environment(tmp_path):
    share = Share(str(tmp_path))
    run = share.run(1)
    os.makedirs(run.path)
    with open(run.done, "w") as f:
        f.write("0 token\n")
    with open(run.started, "w") as f:
        f.write("2026-12-07T10:00:00Z\n")
    record_pulled(share, [Input("metric/hwloc:iter-1", DIGEST)])
    produced = producer(step_in(share), run, 0, {**SECRETS, **DOWNWARD})
    assert (produced.pod, produced.namespace, produced.node) == ("lmp-x2k", "lab", "node-1")
    assert produced.started == "2026-12-07T10:00:00Z" and produced.finished.endswith("Z")
    assert produced.inputs == (Input("metric/hwloc:iter-1", DIGEST),)
    written = statement.encode(statement.statement(subject_name="metric/lmp:iter-1", subject_digest=DIGEST,
                                                   produced=produced)).decode()
    written += json.dumps(manifest_annotations(produced))
    assert [value for value in SECRETS.values() if value in written] == []
    assert "$(ORAS_PASS)" in written  # the command as the spec writes it, its variable not expanded


def test_a_pull_record_that_is_not_one_names_no_input(tmp_path):
    share = Share(str(tmp_path))
    assert pulled_inputs(share) == ()
    os.makedirs(share.pull)
    with open(share.pulled_inputs, "w") as f:
        f.write('{"not": "a list"}')
    assert pulled_inputs(share) == ()


class RefusingRegistry:
    """A client whose registry refuses every request: the statement cannot be attached."""

    def __getattr__(self, name: str):
        def refuse(*args, **kwargs):
            from kubectl_oras.oci.errors import RegistryError
            raise RegistryError("denied: requested access to the resource is denied")
        return refuse


def test_a_statement_that_cannot_be_attached_is_said_and_fails_nothing(capsys):
    from kubectl_oras.agent.provenance import attach_statement
    from kubectl_oras.oci.push import PushResult
    from kubectl_oras.oci.reference import Reference
    from kubectl_oras.provenance.record import Produced

    result = PushResult(reference="r:t", digest=DIGEST, layers=[], manifest={"schemaVersion": 2})
    attach_statement(RefusingRegistry(), Reference("h:5000", "m/x", "t"), result, Produced(builder="b"))  # type: ignore[arg-type]
    assert f"h:5000/m/x:t@{DIGEST} is pushed, but its provenance statement is not: denied" in capsys.readouterr().err
