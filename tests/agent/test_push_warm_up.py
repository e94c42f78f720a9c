"""Tier 1: the sidecar's warm-up (run in the background from its start, while the hook and the
launcher run) loads everything a push uses and builds its client, so that the push after the
step only sends: under restartPolicy Always no import sits between the step's end and its verdict
(docs/pod-protocol.md, What the injection costs on a real node)."""

import json
import subprocess
import sys

from tests.agent.protocol import LocalPod

# In a fresh interpreter, as in the sidecar: the warm-up, then one run pushed; prints the verdict
# and every module the push loaded.
PUSH_AFTER_WARM_UP = """
import json, os, sys, threading
from kubectl_oras.agent import outputs
from kubectl_oras.pods.step import StepDescription

step = StepDescription.from_env()
outputs.warm_up(step)
run = step.layout.run(1)
os.makedirs(run.outputs)
with open(os.path.join(run.outputs, "result.txt"), "w") as f:
    f.write("42")
loaded = set(sys.modules)
verdict = outputs.push_run(step, run, 0, "a-token", threading.Event())
print(json.dumps({"verdict": verdict, "loaded by the push": sorted(set(sys.modules) - loaded)}))
"""


def test_a_push_after_the_warm_up_loads_no_module(any_registry, tmp_path, repo):
    pod = LocalPod(any_registry.host, tmp_path, output=f"{repo}:warm", restart_policy="Always")
    pod.share.mkdir(parents=True)
    done = subprocess.run([sys.executable, "-c", PUSH_AFTER_WARM_UP], env=pod.env(), capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    said = json.loads(done.stdout.splitlines()[-1])
    assert said["verdict"].startswith(f"pushed {any_registry.host}/{repo}:warm@sha256:"), said
    assert said["loaded by the push"] == [], said
