"""Step overhead on a real node: a Job whose step writes a 1 KB file, with and without injection
(the annotated one pushes the file to the namespace's cache), created in turn and timed from
create to the Job's Complete condition as a client watching it sees. Medians of --repeat rounds,
the differences and ratios. The controller runs as `kubectl oras install` puts it, in pods.

Each round runs five steps, interleaved: a plain Job, the same Job injected with restartPolicy
Never (the sidecar pulls and ends with the step) and with OnFailure (the sidecar pulls, and ends
after a run that succeeded), and a Deployment-style pod (restartPolicy Always: its launcher runs
again after every run), plain and injected, timed from create to the first run's end in the
pod's status (the injected one's run ends once its push is stored). docs/pod-protocol.md says
where the difference comes from.

Needs root and the machine's network to itself (one local cluster at a time):
    flock /tmp/kubectl-oras-node.lock python bench/node_step_overhead.py [--repeat 7]

The predecessor's design polls marker files every 5 s on both sides of the step: at least 10 s
added (its own documentation; not measured here). Target: <= 1 s added.
"""

from __future__ import annotations

import argparse
import datetime
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.node_cluster import cluster_with_cache  # noqa: E402
from kubectl_oras.pods.annotations import PREFIX  # noqa: E402
from tests.cluster.apply import apply  # noqa: E402
from tests.e2e.test_workflow_on_a_node import SHELL  # noqa: E402

STEP = "head -c 1024 /dev/urandom > result.bin"


# what each step of a round is: (annotated, restartPolicy, the start of its name); Always is a bare
# pod as a Deployment makes it, the others Jobs. Each injected kind is compared with the plain one
# of its kind of object.
KINDS = {"plain": (False, "Never", "plain"), "injected (Never)": (True, "Never", "never"),
         "injected (OnFailure)": (True, "OnFailure", "onfailure"),
         "plain (Always)": (False, "Always", "plain-always"), "injected (Always)": (True, "Always", "always")}
ROUND = tuple(KINDS)
BASELINE = {"injected (Never)": "plain", "injected (OnFailure)": "plain", "injected (Always)": "plain (Always)"}


def annotations_for(name: str, annotated: bool) -> dict[str, str]:
    return {PREFIX + "output-uri": f"bench/step:{name}", PREFIX + "output-path": "result.bin"} if annotated else {}


def job(ns: str, name: str, annotated: bool, policy: str = "Never") -> dict:
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": ns, "annotations": annotations_for(name, annotated)},
            "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": policy, "containers": [
                {"name": "step", "image": SHELL, "imagePullPolicy": "Never", "command": ["sh", "-c", STEP]}]}}}}


def always_pod(ns: str, name: str, annotated: bool) -> dict:
    """A pod as a Deployment's ReplicaSet makes it: restartPolicy Always, the launcher runs again after each run."""
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "annotations": annotations_for(name, annotated)},
            "spec": {"restartPolicy": "Always", "terminationGracePeriodSeconds": 1, "containers": [
                {"name": "step", "image": SHELL, "imagePullPolicy": "Never", "command": ["sh", "-c", STEP]}]}}


def first_run_ended(pod: dict) -> bool:
    """Whether the pod's status says its launcher's first run has ended (exit 0: a failed run fails the bench)."""
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        ended = (status.get("state") or {}).get("terminated") or (status.get("lastState") or {}).get("terminated")
        if ended:
            if ended.get("exitCode") != 0:
                raise SystemExit(f"pod {pod['metadata']['name']}: its first run exited {ended.get('exitCode')}")
            return True
    return False


def run(cp, ns: str, name: str, annotated: bool, policy: str = "Never") -> tuple[float, float, float]:
    """(seconds from create to Complete, or to the first run's end for an Always pod, and the
    wall-clock times of both, for the timeline)."""
    session = cp.session()
    always = policy == "Always"
    url = f"{cp.server}/api/v1/namespaces/{ns}/pods/{name}" if always else \
        f"{cp.server}/apis/batch/v1/namespaces/{ns}/jobs/{name}"
    began, wall = time.perf_counter(), time.time()
    apply(cp, always_pod(ns, name, annotated) if always else job(ns, name, annotated, policy))
    while True:
        got = session.get(url).json()
        if always and first_run_ended(got):
            took, ended = time.perf_counter() - began, time.time()
            session.delete(url)  # it would run again and again
            return took, wall, ended
        conditions = [] if always else (got.get("status") or {}).get("conditions") or []
        done = {c["type"] for c in conditions if c["status"] == "True"}
        if "Complete" in done:
            return time.perf_counter() - began, wall, time.time()
        if "Failed" in done:
            raise SystemExit(f"job {name} failed")
        time.sleep(0.05)


_STAMP = re.compile(r'^time="([^"]+)"')
_SANDBOX = re.compile(r'RunPodSandbox for &PodSandboxMetadata\{Name:([^,]+),')
_SANDBOX_ID = re.compile(r'returns sandbox id \\"([0-9a-f]+)')
_CREATED = re.compile(r'CreateContainer within sandbox \\"([0-9a-f]+)\\" for &ContainerMetadata\{Name:([^,]+),')
_CONTAINER_ID = re.compile(r'returns container id \\"([0-9a-f]+)')
_STARTED = re.compile(r'StartContainer for \\"([0-9a-f]+)\\" returns successfully')
_EXITED = re.compile(r'(?:TaskExit event.*?ContainerID:|received exit event container_id:\\")([0-9a-f]+)')


def _seconds(stamp: str) -> float:
    whole, _, fraction = stamp.rstrip("Z").partition(".")
    return datetime.datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.UTC).timestamp() + \
        float("0." + (fraction or "0"))


def timeline(containerd_log: str, pod_prefix: str) -> dict[str, float]:
    """When, by containerd's log, the pod named ``pod_prefix``… was asked for, got its sandbox, and
    each of its containers started and exited (epoch seconds; first of each)."""
    events: dict[str, float] = {}
    sandbox, names = "", {}
    for line in containerd_log.splitlines():
        stamp = _STAMP.match(line)
        if not stamp:
            continue
        at = _seconds(stamp.group(1))
        if (m := _SANDBOX.search(line)) and m.group(1).startswith(pod_prefix):
            if ready := _SANDBOX_ID.search(line):
                sandbox = ready.group(1)
                events.setdefault("sandbox ready", at)
            else:
                events.setdefault("sandbox asked", at)
        elif sandbox and (m := _CREATED.search(line)) and m.group(1) == sandbox and (c := _CONTAINER_ID.search(line)):
            names[c.group(1)] = m.group(2)
        elif (m := _STARTED.search(line)) and m.group(1) in names:
            events.setdefault(f"{names[m.group(1)]} started", at)
        elif (m := _EXITED.search(line)) and m.group(1) in names:
            events.setdefault(f"{names[m.group(1)]} exited", at)
    return events


def phases(containerd_log: str, pod_prefix: str, created: float, complete: float) -> dict[str, float]:
    """Each event's time after the Job's create, and Complete last."""
    events = {"created": created, **timeline(containerd_log, pod_prefix), "Complete (or run ended) seen": complete}
    return {event: at - created for event, at in sorted(events.items(), key=lambda item: item[1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with cluster_with_cache(Path(tempfile.mkdtemp(prefix="bench-node-step-")), nodes=1, prefix="bench") as (cluster, ns):
        cp = cluster.cp
        for annotated, policy, prefix in KINDS.values():
            run(cp, ns, f"warm-{prefix}", annotated, policy)
        times: dict[str, list[float]] = {kind: [] for kind in ROUND}
        walls: dict[str, list[tuple[str, float, float]]] = {kind: [] for kind in ROUND}
        for i in range(args.repeat):
            for kind, (annotated, policy, prefix) in KINDS.items():
                name = f"{prefix}-{i}"
                took, created, complete = run(cp, ns, name, annotated, policy)
                times[kind].append(took)
                walls[kind].append((name if policy == "Always" else f"{name}-", created, complete))
            print(f"round {i + 1}: " + ", ".join(f"{kind} {times[kind][-1]:.2f} s" for kind in ROUND), flush=True)
        log = (cluster.nodes[0].root / "containerd.log").read_text(errors="replace")
        for kind in ROUND:
            runs = [phases(log, *w) for w in walls[kind]]
            print(f"\n{kind}: where the time goes, by containerd's log (median s after the Job's create)")
            for event in runs[0]:
                values = [r[event] for r in runs if event in r]
                print(f"  {event:24s} {statistics.median(values):6.2f}")
        print(f"\na 1 KB step, create -> Complete (Always: -> its first run's end), median of {args.repeat} "
              "interleaved rounds (one node)")
        for kind in ROUND:
            median = statistics.median(times[kind])
            if kind not in BASELINE:
                print(f"  {kind:22s}  {median:6.2f} s")
                continue
            plain = statistics.median(times[BASELINE[kind]])
            print(f"  {kind:22s}  {median:6.2f} s   added {median - plain:5.2f} s   ratio {median / plain:.2f}x   "
                  f"target <= 1 s added: {'ok' if median - plain <= 1 else 'MISSED'}")


if __name__ == "__main__":
    main()
