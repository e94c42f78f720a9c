"""What the sidecar records of a run whose step wrote into the share: reads are bounded, and what
is not the wrapper's or the pull's kind of record is left out rather than failing the push."""

from __future__ import annotations

import json
import os

from kubectl_oras.agent import provenance
from kubectl_oras.pods.step import StepDescription


def a_step(share) -> StepDescription:
    return StepDescription(registry="reg.example", plain_http=True, inputs=(), output="lab/out:v1", unpack=True,
                           push_on_failure="", debug=False, share=str(share))


def test_a_huge_or_malformed_started_and_pulled_record_are_read_bounded_and_left_out(tmp_path):
    step = a_step(tmp_path)
    run = step.layout.run(1)
    os.makedirs(run.path)
    os.makedirs(step.layout.pull)
    with open(run.started, "w") as f:  # a lying, endless time
        f.write("2026-01-01T00:00:00Z" + "9" * (8 << 20))
    with open(step.layout.pulled_inputs, "w") as f:  # a record past the bound: cut, so not JSON
        json.dump([{"name": "x" * 100, "digest": "sha256:" + "a" * 64}] * 20000, f)
    open(run.done, "w").write("0 token\n")
    produced = provenance.producer(step, run, 0, {})
    assert produced.started == "" and produced.inputs == () and produced.finished


def test_a_lying_time_the_step_writes_is_recorded_as_written(tmp_path):
    step = a_step(tmp_path)
    run = step.layout.run(1)
    os.makedirs(run.path)
    with open(run.started, "w") as f:
        f.write("2001-02-03T04:05:06Z\n")
    assert provenance.producer(step, run, 0, {}).started == "2001-02-03T04:05:06Z"
