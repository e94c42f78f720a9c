"""Fan-out at scale on two nodes: an Indexed Job whose every completion pulls the same input and
pushes an output of its own through the namespace's cache, against the same Job reading the
input from a hostPath share and writing its output there (the tutorial's way), in one run on
one local cluster of two nodes. It prints, for each: the wall time from create to Complete, where
each pod's time went (from the pods' status and the sidecar's timestamped log), the registry
pod's CPU and memory (its cgroup on the node), the CPU the pods and the machine used, and the
bytes each node pulled (through its uplink; the registry's node: what the registry sent, less
what went to the other node).

Sizes by environment (defaults: the figures in docs/performance.md):
    FANOUT_COMPLETIONS (32), FANOUT_PARALLELISM (16), FANOUT_INPUT_MIB (64), FANOUT_OUTPUT_MIB (4)

Needs root and the machine's network to itself (one local cluster at a time):
    flock /tmp/kubectl-oras-node.lock python bench/fanout.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.node_cluster import cluster_with_cache  # noqa: E402
from controller.core.cache_objects import REGISTRY_SELECTOR  # noqa: E402
from kubectl_oras.oci.push import push_artifact  # noqa: E402
from kubectl_oras.oci.reference import Reference  # noqa: E402
from kubectl_oras.pods.annotations import PREFIX  # noqa: E402
from kubectl_oras.times import parse_rfc3339  # noqa: E402
from localcluster.network import in_netns  # noqa: E402
from tests.cluster.apply import apply  # noqa: E402
from tests.e2e.test_workflow_on_a_node import SHELL, cache_client  # noqa: E402

MIB = 1024 * 1024
CGROUP = Path("/sys/fs/cgroup")
INPUT = "bench/fanout-input:v1"


def size_from_env(name: str, default: int) -> int:
    raw = os.environ.get(name, str(default))
    if not raw.isdigit() or int(raw) < 1:
        raise SystemExit(f"{name}={raw!r}: a whole number of at least 1 is needed")
    return int(raw)


@dataclass(frozen=True)
class Sizes:
    completions: int
    parallelism: int
    input_mib: int
    output_mib: int

    @classmethod
    def from_env(cls) -> Sizes:
        return cls(size_from_env("FANOUT_COMPLETIONS", 32), size_from_env("FANOUT_PARALLELISM", 16),
                   size_from_env("FANOUT_INPUT_MIB", 64), size_from_env("FANOUT_OUTPUT_MIB", 4))


def indexed_job(ns: str, name: str, sizes: Sizes, *, through_cache: bool, share: Path) -> dict:
    """The step: read the whole input (its checksum), write an output of its own."""
    write = f"dd if=/dev/urandom bs=1048576 count={sizes.output_mib} 2>/dev/null"
    if through_cache:
        annotations = {PREFIX + "input-uri": INPUT, PREFIX + "output-uri": "bench/fanout:out-$(JOB_COMPLETION_INDEX)",
                       PREFIX + "output-path": "out.bin"}
        script, volumes, mounts = f"sha256sum input.bin > /dev/null && {write} > out.bin", [], []
    else:
        annotations = {}
        script = f"sha256sum /share/input.bin > /dev/null && {write} > /share/out/$JOB_COMPLETION_INDEX.bin"
        volumes = [{"name": "share", "hostPath": {"path": str(share), "type": "Directory"}}]
        mounts = [{"name": "share", "mountPath": "/share"}]
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": ns, "annotations": annotations},
            "spec": {"completionMode": "Indexed", "completions": sizes.completions, "parallelism": sizes.parallelism,
                     "backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", "volumes": volumes, "containers": [
                         {"name": "step", "image": SHELL, "imagePullPolicy": "Never", "command": ["sh", "-c", script],
                          "volumeMounts": mounts}]}}}}


def pod_cgroup(controller: str, netns: str, uid: str) -> Path:
    """The pod's cgroup on its node (cgroup v1, the kubelet's cgroupfs driver under the node's own root)."""
    found = list((CGROUP / controller / netns).glob(f"kubepods*/**/pod{uid}")) + \
        list((CGROUP / controller / netns).glob(f"kubepods*/pod{uid}"))
    if not found:
        raise SystemExit(f"no {controller} cgroup for pod {uid} under {CGROUP / controller / netns}")
    return found[0]


def read_int(path: Path) -> int:
    return int(path.read_text().split()[0])


def memory_stat(cgroup: Path) -> dict[str, int]:
    return {k: int(v) for k, v in (line.split() for line in (cgroup / "memory.stat").read_text().splitlines())}


def interface_bytes(lines: str) -> dict[str, tuple[int, int]]:
    """(received, sent) bytes of each interface in /proc/net/dev's text."""
    counts = {}
    for line in lines.splitlines()[2:]:
        name, _, rest = line.partition(":")
        values = rest.split()
        counts[name.strip()] = (int(values[0]), int(values[8]))
    return counts


def node_interfaces(netns: str) -> dict[str, tuple[int, int]]:
    return interface_bytes(subprocess.run(in_netns(netns, "cat", "/proc/net/dev"), check=True, capture_output=True,
                                          text=True).stdout)


def uplink_received(netns: str) -> int:
    """Bytes that came into the node from outside it (its eth0: from the other node, the host);
    a pod's own interface goes with the pod, so the uplink is what lasts a Job."""
    return node_interfaces(netns)["eth0"][0]


def pods_cpu_seconds(netns: str) -> float:
    """CPU time every pod of the node has used (the kubelet's kubepods cgroup)."""
    return read_int(CGROUP / "cpuacct" / netns.lstrip("/") / "kubepods" / "cpuacct.usage") / 1e9


def machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


@dataclass
class RegistryMeter:
    """The registry pod's CPU time, its memory (peak RSS and peak usage, page cache included) and
    what its interface received and sent, sampled while a Job runs."""

    cpu: Path
    memory: Path
    pid: int
    samples: list[tuple[int, int]] = field(default_factory=list)  # (rss, usage)
    stop: threading.Event = field(default_factory=threading.Event)

    def net(self) -> tuple[int, int]:
        return interface_bytes(Path(f"/proc/{self.pid}/net/dev").read_text())["eth0"]

    def __enter__(self) -> RegistryMeter:
        self.cpu0, self.net0 = read_int(self.cpu / "cpuacct.usage"), self.net()
        self.throttled0 = self.throttled()
        self.stop.clear()
        self.samples = []
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def throttled(self) -> int:
        """Nanoseconds the pod was held back by a CPU limit (the cpu controller's cpu.stat)."""
        cpu_stat = Path(str(self.cpu).replace("/cpuacct/", "/cpu/")) / "cpu.stat"
        return int(dict(line.split() for line in cpu_stat.read_text().splitlines()).get("throttled_time", "0"))

    def _sample(self) -> None:
        while not self.stop.is_set():
            stat = memory_stat(self.memory)
            self.samples.append((stat.get("total_rss", stat.get("rss", 0)), read_int(self.memory / "memory.usage_in_bytes")))
            self.stop.wait(0.25)

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self.cpu_seconds = (read_int(self.cpu / "cpuacct.usage") - self.cpu0) / 1e9
        received, sent = self.net()
        self.received, self.sent = received - self.net0[0], sent - self.net0[1]
        self.throttled_seconds = (self.throttled() - self.throttled0) / 1e9
        self.peak_rss = max(s[0] for s in self.samples)
        self.peak_usage = max(s[1] for s in self.samples)


def seconds(stamp: str) -> float:
    moment = parse_rfc3339(stamp, zone_required=True)
    if moment is None:
        raise SystemExit(f"not an RFC 3339 time: {stamp!r}")
    return moment.timestamp()


def run_job(cp, ns: str, job: dict) -> tuple[float, list[dict]]:
    """Seconds from create to Complete, and the Job's pods."""
    name = job["metadata"]["name"]
    session = cp.session()
    began = time.perf_counter()
    apply(cp, job)
    while True:
        status = session.get(f"{cp.server}/apis/batch/v1/namespaces/{ns}/jobs/{name}").json().get("status") or {}
        done = {c["type"] for c in status.get("conditions") or [] if c["status"] == "True"}
        if "Complete" in done:
            took = time.perf_counter() - began
            break
        if "Failed" in done:
            raise SystemExit(f"job {name} failed: {status}")
        time.sleep(0.1)
    pods = session.get(f"{cp.server}/api/v1/namespaces/{ns}/pods", params={"labelSelector": f"job-name={name}"}).json()
    return took, pods["items"]


def sidecar_times(cp, ns: str, pod: dict) -> tuple[float | None, float | None]:
    """When, by its timestamped log, the pod's sidecar had pulled, and had pushed (epoch seconds)."""
    r = cp.session().get(f"{cp.server}/api/v1/namespaces/{ns}/pods/{pod['metadata']['name']}/log",
                         params={"container": "oras-push", "timestamps": "true"})
    pulled = pushed = None
    for line in r.text.splitlines():
        stamp, _, text = line.partition(" ")
        if text.startswith("kubectl-oras: pulled ") and pulled is None:
            pulled = seconds(stamp)
        if ": pushed " in text and pushed is None:
            pushed = seconds(stamp)
    return pulled, pushed


def where_the_time_goes(cp, ns: str, pods: list[dict], through_cache: bool) -> dict[str, float]:
    """Medians over the pods, in seconds: from the pod's creation to its step's start, and the
    step's run (with the cache: the pull, then the copy, the step and the push)."""
    parts: dict[str, list[float]] = {}
    for pod in pods:
        created = seconds(pod["metadata"]["creationTimestamp"])
        step = next(c for c in pod["status"]["containerStatuses"] if c["name"] == "step")["state"]["terminated"]
        started, finished = seconds(step["startedAt"]), seconds(step["finishedAt"])
        parts.setdefault("created -> step container started", []).append(started - created)
        if through_cache:
            sidecar = next(c for c in pod["status"]["initContainerStatuses"] if c["name"] == "oras-push")
            sidecar_started = seconds((sidecar["state"].get("terminated") or sidecar["state"].get("running") or
                                       sidecar["lastState"].get("terminated"))["startedAt"])
            pulled, pushed = sidecar_times(cp, ns, pod)
            if pulled is not None:
                parts.setdefault("sidecar started -> input pulled", []).append(pulled - sidecar_started)
            if pulled is not None and pushed is not None:
                parts.setdefault("input pulled -> output pushed (copy, step, push)", []).append(pushed - pulled)
        parts.setdefault("step container started -> finished", []).append(finished - started)
    return {part: statistics.median(values) for part, values in parts.items()}


def registry_pod(cp, ns: str) -> dict:
    pods = cp.session().get(f"{cp.server}/api/v1/namespaces/{ns}/pods",
                            params={"labelSelector": REGISTRY_SELECTOR}).json()["items"]
    if len(pods) != 1:
        raise SystemExit(f"expected one registry pod in {ns}, found {len(pods)}")
    return pods[0]


def main() -> None:
    sizes = Sizes.from_env()
    work = Path(tempfile.mkdtemp(prefix="bench-fanout-"))
    share = work / "share"
    (share / "out").mkdir(parents=True)
    data = os.urandom(sizes.input_mib * MIB)
    (share / "input.bin").write_bytes(data)
    with cluster_with_cache(work, nodes=2, prefix="fanout") as (cluster, ns):
        cp = cluster.cp
        host, client = cache_client(cp, ns, "oras")
        push_artifact(client, Reference(host, *INPUT.split(":")), [str(share / "input.bin")])
        registry = registry_pod(cp, ns)
        node_of = {node.name: node for node in cluster.nodes}
        registry_node = node_of[registry["spec"]["nodeName"]]
        memory = pod_cgroup("memory", registry_node.netns, registry["metadata"]["uid"])
        pid = next(int(p) for d in sorted(memory.iterdir()) if d.is_dir()
                   for p in (d / "cgroup.procs").read_text().split())
        meter = RegistryMeter(pod_cgroup("cpuacct", registry_node.netns, registry["metadata"]["uid"]), memory, pid)
        results = {}
        for kind, through_cache in (("hostPath share", False), ("through the cache", True)):
            before = {name: (uplink_received(node.netns), pods_cpu_seconds(node.netns)) for name, node in node_of.items()}
            busy_before = machine_busy()
            with meter:
                took, pods = run_job(cp, ns, indexed_job(ns, "cache" if through_cache else "hostpath", sizes,
                                                         through_cache=through_cache, share=share))
            busy_after = machine_busy()
            came_in = {name: uplink_received(node.netns) - before[name][0] for name, node in node_of.items()}
            cpu = {name: pods_cpu_seconds(node.netns) - before[name][1] for name, node in node_of.items()}
            # The registry's node: what the registry sent less what went out to the other node.
            pulled = {name: came_in[name] for name in node_of if name != registry_node.name}
            pulled[registry_node.name] = max(0, meter.sent - sum(pulled.values()))
            per_node = {name: sum(1 for p in pods if p["spec"]["nodeName"] == name) for name in node_of}
            results[kind] = took
            print(f"\n{kind}: {sizes.completions} completions, parallelism {sizes.parallelism}, "
                  f"{sizes.input_mib} MiB in, {sizes.output_mib} MiB out each: {took:.1f} s create -> Complete")
            for part, median in where_the_time_goes(cp, ns, pods, through_cache).items():
                print(f"  median {part:50s} {median:6.2f} s")
            busy = (busy_after[0] - busy_before[0]) / max(1, busy_after[1] - busy_before[1])
            print(f"  the machine's {os.cpu_count()} cores: {busy:.0%} busy (everything on it); the pods used "
                  f"{sum(cpu.values()):.1f} CPU-seconds ({sum(cpu.values()) / took:.2f} cores on average)")
            print(f"  registry pod (on {registry_node.name}): CPU {meter.cpu_seconds:.1f} s "
                  f"({meter.cpu_seconds / took:.2f} cores on average), throttled {meter.throttled_seconds:.1f} s, "
                  f"peak RSS {meter.peak_rss / MIB:.0f} MiB, peak memory usage with page cache "
                  f"{meter.peak_usage / MIB:.0f} MiB; sent {meter.sent / MIB:.0f} MiB, received "
                  f"{meter.received / MIB:.0f} MiB")
            for name in node_of:
                where = (" (the registry's node: what the registry sent, less what went to the other node)"
                         if name == registry_node.name else " (what came in through its uplink)")
                print(f"  node {name}: {per_node[name]} pods, {cpu[name]:.1f} CPU-seconds; it pulled "
                      f"{pulled[name] / MIB:.0f} MiB{where}")
        ratio = results["through the cache"] / results["hostPath share"]
        print(f"\nthrough the cache {results['through the cache']:.1f} s against the hostPath share "
              f"{results['hostPath share']:.1f} s: {ratio:.2f}x")


if __name__ == "__main__":
    main()
