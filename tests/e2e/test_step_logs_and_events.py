"""Tier 3, on a real node: what a user reads about a step once it has run. `kubectl oras logs
job/NAME` shows the step's log and the agent's together, under a header per container, in the
order they ran; the controller's Events on the pod say what the agent reported (inputs pulled,
outputs pushed, or a pull that failed), as `kubectl describe pod` shows them."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from kubectl_oras.oci.push import push_artifact
from kubectl_oras.oci.reference import Reference
from kubectl_oras.pods.annotations import PREFIX
from tests.cluster.apply import new_namespace
from tests.e2e.test_workflow_on_a_node import cluster, get, orascache, run_job, step_job  # noqa: F401 - fixture

REPO = Path(__file__).resolve().parents[2]


def oras_logs(cp, *args):
    return subprocess.run([sys.executable, "-m", "kubectl_oras", "logs", *args, "--kubeconfig", str(cp.kubeconfig)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)


def events(cp, ns, pod, count, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        items = get(cp, f"/api/v1/namespaces/{ns}/events?fieldSelector=involvedObject.name%3D{pod}").json()["items"]
        ours = sorted((e["type"], e["reason"], e["message"]) for e in items if e["source"].get("component") == "kubectl-oras")
        if len(ours) >= count or time.monotonic() > deadline:
            return ours
        time.sleep(0.5)


def test_a_steps_logs_come_together_and_its_pod_has_the_agents_events(cluster, tmp_path):  # noqa: F811
    cp, _ = cluster
    ns = new_namespace(cp, "logs")
    try:
        host, client = orascache(cp, ns, "oras")
        (tmp_path / "params.txt").write_text("iterations=3\n")
        push_artifact(client, Reference(host, "exp/params", "v1"), [str(tmp_path / "params.txt")])
        done, pod = run_job(cp, ns, step_job(ns, "simulate", {
            PREFIX + "input-uri": "exp/params:v1", PREFIX + "output-uri": "exp/out:v1", PREFIX + "output-path": "out.txt",
        }, "cat params.txt > out.txt && echo simulated"))
        assert done["status"].get("succeeded") == 1
        name = pod["metadata"]["name"]

        shown = oras_logs(cp, "job/simulate", "-n", ns)
        assert shown.returncode == 0, shown.stderr
        step_header = f"==> pod/{name} container step (the step) <=="
        push_header = f"==> pod/{name} container oras-push (the agent: pulls the inputs, then pushes the outputs) <=="
        out = shown.stdout
        assert out.index(step_header) < out.index("simulated") < out.index(push_header)
        assert out.index(push_header) < out.index("pulled exp/params:v1"), out
        followed = oras_logs(cp, f"pod/{name}", "-f", "-c", "step", "-n", ns)  # a finished pod: -f ends
        assert followed.returncode == 0 and followed.stdout.startswith(step_header) and "simulated" in followed.stdout
        assert events(cp, ns, name, 2) == [("Normal", "InputsPulled", "pulled exp/params:v1"),
                                           ("Normal", "OutputsPushed", "pushed exp/out:v1")]

        done, pod = run_job(cp, ns, step_job(ns, "missing", {PREFIX + "input-uri": "exp/params:nope"}, "echo never"))
        assert done["status"].get("failed")
        (event,) = events(cp, ns, pod["metadata"]["name"], 1)
        assert event[:2] == ("Warning", "InputsPullFailed") and "exp/params:nope" in event[2], event
        missing = oras_logs(cp, "job/nope", "-n", ns)
        assert missing.returncode == 1 and missing.stderr.strip() == f"error: no Job 'nope' in namespace {ns}"
    finally:
        cp.session().delete(f"{cp.server}/api/v1/namespaces/{ns}")
