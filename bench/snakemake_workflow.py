"""The example Snakemake workflow (examples/snakemake/, the tier-3 test's) on the local cluster
(two nodes) with Snakemake's Kubernetes executor and the oras storage plugin, against its floor:
the same jobs as plain Kubernetes Jobs of the same job image doing nothing with no storage.

In one run, interleaved for --repeat rounds (after one warm-up of each, which also reads the DAG):

- the workflow: `snakemake --executor kubernetes` with the cache `oras` as its default storage,
  timed from Snakemake's start to its end (every job done), each round on a fresh workflow prefix
  whose inputs are pushed first, from a fresh directory;
- the floor: one plain Job per job of the workflow that ran as a pod (the same number), of the job
  image `kubectl-oras-snakemake:VERSION`, running `python -c pass` with no storage, in the DAG's
  order: the jobs of one level created at once, each level timed from create to the last Job's
  Complete as a client polling them sees, the next level after; the floor is the sum of the levels.

It prints each round, then the medians: the workflow's wall time, the floor, their ratio, and the
overhead per job, (workflow - floor) / jobs; and where the workflow's time goes, from Snakemake's
log (when it submitted each job and saw it finished, whole seconds) and the pods' status (when
each container started and ended, whole seconds). It asserts no time: it fails only when a step
fails.

What the floor leaves out by design, and the run pays: Snakemake's own start and DAG (an
inventory of the cache through a port-forward), each job's pod starting Snakemake again (the
executor's auto-deploy of storage plugins, a `pip install` from the image's wheel, then the job's
own DAG and its pulls and pushes), and the executor's polling: Snakemake 9's remote executors
check their jobs, then sleep `--seconds-between-status-checks` (10 s by default) before the next
check, so a Job that has ended is seen 0-10 s later, once per level of the DAG at least.

Needs root and the machine's network to itself (one local cluster at a time):
    flock /tmp/kubectl-oras-node.lock python bench/snakemake_workflow.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import base64
import datetime
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.node_cluster import cluster_with_cache  # noqa: E402
from kubectl_oras.orascache import PASSWORD_KEY, USER_KEY, auth_secret_name  # noqa: E402
from kubectl_oras.release import __version__  # noqa: E402
from kubectl_oras.times import parse_rfc3339  # noqa: E402
from localcluster.snakemake_image import snakemake_archive  # noqa: E402
from tests.cli.test_snakemake_workflow import INPUTS, SNAKEFILE  # noqa: E402
from tests.cluster.apply import apply  # noqa: E402
from tests.e2e.test_workflow_on_a_node import cache_client  # noqa: E402

JOB_IMAGE = f"kubectl-oras-snakemake:{__version__}"
FLOOR_COMMAND = "python -c pass"


# Snakemake's log (.snakemake/log/*.log), as Snakemake 9 writes it: a line `[Mon Dec  7 15:54:52 2026]`
# (local time, whole seconds) before each job it submits (`rule NAME:`, or `localrule NAME:` for one
# it runs itself), whose fields follow indented (`input: a, b` with `(retrieve from storage)` or
# `(send to storage)` after each storage file, `jobid: 4`, `wildcards: sample=beta`), and before each
# `Finished jobid: 4 (Rule: clean)`.
_STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
_RULE = re.compile(r"^(local)?rule (\w+):$")
_FIELD = re.compile(r"^\s+(\w+): (.*)$")
_FINISHED = re.compile(r"^Finished jobid: (\d+) ")
_ANNOTATION = re.compile(r" \([^()]*storage[^()]*\)$")


@dataclass(frozen=True)
class Job:
    """One job of a Snakemake run, as its log says it."""
    jobid: int
    rule: str
    local: bool
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    wildcards: str
    submitted: float  # epoch seconds, whole
    finished: float | None

    @property
    def target(self) -> str:
        """The job as the executor's `--target-jobs` names it in its pod's command: `rule:key=value,…`."""
        return f"{self.rule}:{self.wildcards.replace(', ', ',')}"


def _files(value: str) -> tuple[str, ...]:
    return tuple(_ANNOTATION.sub("", item) for item in value.split(", ")) if value else ()


def _log_seconds(stamp: str) -> float:
    return datetime.datetime.strptime(stamp, "%a %b %d %H:%M:%S %Y").timestamp()


def snakemake_jobs(log: str) -> list[Job]:
    """The jobs a Snakemake log says it ran, in the order it submitted them."""
    stamp = 0.0
    blocks: list[dict] = []
    finished: dict[int, float] = {}
    current: dict | None = None
    for line in log.splitlines():
        if m := _STAMP.match(line):
            stamp, current = _log_seconds(m.group(1)), None
        elif m := _RULE.match(line):
            current = {"rule": m.group(2), "local": bool(m.group(1)), "submitted": stamp, "fields": {}}
            blocks.append(current)
        elif current is not None and (m := _FIELD.match(line)):
            current["fields"][m.group(1)] = m.group(2)
        else:
            current = None
            if m := _FINISHED.match(line):
                finished[int(m.group(1))] = stamp
    jobs = []
    for block in blocks:
        fields = block["fields"]
        if "jobid" not in fields:
            raise SystemExit(f"Snakemake's log names a rule {block['rule']} with no jobid: its format has changed")
        jobid = int(fields["jobid"])
        jobs.append(Job(jobid, block["rule"], block["local"], _files(fields.get("input", "")),
                        _files(fields.get("output", "")), fields.get("wildcards", ""), block["submitted"],
                        finished.get(jobid)))
    return jobs


def dag_levels(jobs: Iterable[Job]) -> list[list[Job]]:
    """The jobs by level of their DAG: a job whose inputs no job makes is on level 0, any other one
    level after the deepest job making one of its inputs."""
    jobs = list(jobs)
    maker = {path: job.jobid for job in jobs for path in job.outputs}
    by_id = {job.jobid: job for job in jobs}
    level: dict[int, int] = {}

    def level_of(jobid: int, seen: tuple[int, ...] = ()) -> int:
        if jobid in seen:
            raise SystemExit(f"the jobs {seen} make each other's inputs: not a DAG")
        if jobid not in level:
            makers = {maker[path] for path in by_id[jobid].inputs if path in maker}
            level[jobid] = 1 + max((level_of(m, (*seen, jobid)) for m in makers), default=-1)
        return level[jobid]

    levels: list[list[Job]] = []
    for job in jobs:
        n = level_of(job.jobid)
        levels.extend([] for _ in range(n + 1 - len(levels)))
        levels[n].append(job)
    return levels


@dataclass(frozen=True)
class Summary:
    workflow: float  # seconds, median
    floor: float
    jobs: int

    @property
    def ratio(self) -> float:
        return self.workflow / self.floor

    @property
    def per_job(self) -> float:
        """What each job of the workflow costs beyond its floor, in seconds."""
        return (self.workflow - self.floor) / self.jobs


def summary(workflow: list[float], floor: list[float], jobs: int) -> Summary:
    """The medians of the rounds, over ``jobs`` jobs run as pods."""
    if not workflow or not floor or jobs < 1:
        raise SystemExit("nothing to summarise: no round ran, or no job ran as a pod")
    return Summary(statistics.median(workflow), statistics.median(floor), jobs)


_TARGET = re.compile(r"--target-jobs\s+['\"]?([^'\"\s]+)")


def pod_target(pod: dict) -> str:
    """The Snakemake job a pod of the Kubernetes executor runs (its command's `--target-jobs`)."""
    container = pod["spec"]["containers"][0]
    m = _TARGET.search(" ".join(container.get("command", []) + container.get("args", [])))
    if not m:
        raise SystemExit(f"pod {pod['metadata']['name']}: its command names no --target-jobs")
    return m.group(1)


PHASES = ("Snakemake's start -> its first submit", "submit -> pod created", "pod created -> container started",
          "container ran", "container ended -> Snakemake saw it", "last seen -> Snakemake's end")


def phases(jobs: Iterable[Job], pods: Iterable[dict], started: float, ended: float) -> dict[str, list[float]]:
    """Where a run's time went (seconds, from whole-second clocks: each within a second): before
    Snakemake submits its first job, after it sees its last finished, and for each job run as a
    pod from its submit to its pod's creation and its container's start, the container's run,
    and from its end to Snakemake seeing it finished. ``started`` and ``ended``: the run's, epoch seconds."""
    jobs = [job for job in jobs if not job.local]
    by_target = {pod_target(pod): pod for pod in pods}
    out: dict[str, list[float]] = {phase: [] for phase in PHASES}
    for job in jobs:
        pod = by_target.get(job.target)
        if pod is None:
            raise SystemExit(f"no pod ran the job {job.target} (jobid {job.jobid})")
        created = parse_rfc3339(pod["metadata"]["creationTimestamp"]).timestamp()
        ran = pod["status"]["containerStatuses"][0]["state"]["terminated"]
        began, finished = parse_rfc3339(ran["startedAt"]).timestamp(), parse_rfc3339(ran["finishedAt"]).timestamp()
        out["submit -> pod created"].append(created - job.submitted)
        out["pod created -> container started"].append(began - created)
        out["container ran"].append(finished - began)
        if job.finished is not None:
            out["container ended -> Snakemake saw it"].append(job.finished - finished)
    if jobs:
        out["Snakemake's start -> its first submit"].append(min(job.submitted for job in jobs) - started)
        seen = [job.finished for job in jobs if job.finished is not None]
        if seen:
            out["last seen -> Snakemake's end"].append(ended - max(seen))
    return out


# ---- the I/O: the cluster, Snakemake, the Jobs of the floor

def credentials(cp, ns: str) -> tuple[str, str]:
    secret = cp.session().get(f"{cp.server}/api/v1/namespaces/{ns}/secrets/{auth_secret_name('oras')}").json()
    user, password = (base64.b64decode(secret["data"][key]).decode() for key in (USER_KEY, PASSWORD_KEY))
    return user, password


def push_inputs(cp, ns: str, prefix: str, work: Path) -> None:
    """The workflow's inputs, one artifact each, as docs/snakemake.md says."""
    work.mkdir(parents=True, exist_ok=True)
    for name, text in INPUTS.items():
        (work / name).write_text(text)
        pushed = subprocess.run([sys.executable, "-m", "kubectl_oras", "push", f"{prefix}/data:{name.replace(' ', '_20')}",
                                 name, "-n", ns, "--kubeconfig", str(cp.kubeconfig)],
                                cwd=work, capture_output=True, text=True, timeout=300)
        if pushed.returncode != 0:
            raise SystemExit(f"kubectl oras push of {name} to {prefix}: {pushed.stderr.strip()}")


def run_workflow(cp, ns: str, prefix: str, work: Path, user: str, password: str,
                 cores: int) -> tuple[float, float, float, str]:
    """Snakemake's run from its start to its end (seconds), its start and end (epoch seconds), and its log."""
    work.mkdir(parents=True)
    shutil.copy2(SNAKEFILE, work / "Snakefile")  # a remote job gets the workflow's sources from here
    env = {k: v for k, v in os.environ.items() if k not in ("ORAS_USER", "ORAS_PASS")} | {
        "KUBECONFIG": str(cp.kubeconfig),
        "SNAKEMAKE_STORAGE_ORAS_USERNAME": user, "SNAKEMAKE_STORAGE_ORAS_PASSWORD": password}
    command = [sys.executable, "-m", "snakemake", "-s", "Snakefile", "--default-storage-provider", "oras",
               "--default-storage-prefix", f"oras://{prefix}", "--executor", "kubernetes", "--kubernetes-namespace", ns,
               "--kubernetes-omit-job-cleanup", "--container-image", JOB_IMAGE,
               "--storage-oras-cache", "oras", "--storage-oras-namespace", ns, "-j", str(cores)]
    began, started = time.perf_counter(), time.time()
    done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=1200)
    took, ended = time.perf_counter() - began, time.time()
    if done.returncode != 0:
        raise SystemExit(f"Snakemake on {prefix} failed:\n{done.stderr[-5000:]}")
    return took, started, ended, "".join(p.read_text() for p in sorted((work / ".snakemake" / "log").glob("*.log")))


def executor_pods(cp, ns: str) -> dict[str, dict]:
    """The pods of the Jobs the Kubernetes executor made (`snakejob-…`), by their Job's name."""
    pods = cp.session().get(f"{cp.server}/api/v1/namespaces/{ns}/pods", params={"labelSelector": "job-name"}).json()
    return {p["metadata"]["labels"]["job-name"]: p for p in pods["items"]
            if p["metadata"]["labels"]["job-name"].startswith("snakejob-")}


def floor_job(ns: str, name: str) -> dict:
    """A plain Job of the job image, shaped as the executor's (an emptyDir as /workdir), doing nothing."""
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": ns},
            "spec": {"backoffLimit": 0, "template": {"spec": {
                "restartPolicy": "Never", "volumes": [{"name": "workdir", "emptyDir": {}}],
                "containers": [{"name": "snakemake", "image": JOB_IMAGE, "command": ["/bin/sh", "-c", FLOOR_COMMAND],
                                "workingDir": "/workdir", "volumeMounts": [{"name": "workdir", "mountPath": "/workdir"}]}]}}}}


def run_level(cp, ns: str, names: list[str]) -> float:
    """The Jobs ``names`` created at once; seconds until the last is Complete."""
    session = cp.session()
    began = time.perf_counter()
    for name in names:
        apply(cp, floor_job(ns, name))
    waiting = set(names)
    while waiting:
        for name in list(waiting):
            got = session.get(f"{cp.server}/apis/batch/v1/namespaces/{ns}/jobs/{name}").json()
            done = {c["type"] for c in (got.get("status") or {}).get("conditions") or [] if c["status"] == "True"}
            if "Failed" in done:
                raise SystemExit(f"job {name} of the floor failed")
            if "Complete" in done:
                waiting.discard(name)
        time.sleep(0.05)
    return time.perf_counter() - began


def run_floor(cp, ns: str, levels: list[list[Job]], tag: str) -> float:
    """The floor: each level's Jobs at once, level after level; the levels' times summed (``levels``:
    the jobs Snakemake ran as pods)."""
    return sum(run_level(cp, ns, [f"floor-{tag}-{n}-{j.jobid}" for j in level]) for n, level in enumerate(levels))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-snakemake-"))
    with cluster_with_cache(work, nodes=2, prefix="bench-snake") as (cluster, ns):
        cp = cluster.cp
        cluster.import_archive(snakemake_archive(), f"docker.io/library/{JOB_IMAGE}")
        cache_client(cp, ns, "oras")  # until kube-proxy has programmed its Service, which the jobs reach
        user, password = credentials(cp, ns)
        # The warm-up: the image's first start on each node, the cache's first pushes; its log says the DAG.
        push_inputs(cp, ns, "bench-warm", work / "inputs-warm")
        warm, *_, log = run_workflow(cp, ns, "bench-warm", work / "run-warm", user, password, cores=4)
        jobs = snakemake_jobs(log)
        levels = [[j for j in level if not j.local] for level in dag_levels(jobs)]
        levels = [level for level in levels if level]  # a local rule (the target `all`) runs in Snakemake
        remote = [j for level in levels for j in level]
        cores = max(len(level) for level in levels)
        print("the DAG: " + " | ".join(", ".join(j.rule for j in level) for level in levels), flush=True)
        print(f"warm-up: workflow {warm:.2f} s, floor {run_floor(cp, ns, levels, 'warm'):.2f} s", flush=True)
        seen = set(executor_pods(cp, ns))  # the warm-up's
        wall: list[float] = []
        floor: list[float] = []
        where: dict[str, list[float]] = {}
        for i in range(args.repeat):
            prefix = f"bench-{i}"
            push_inputs(cp, ns, prefix, work / f"inputs-{i}")
            # Alternated, so that neither always runs on a machine the other has just loaded.
            first_floor = i % 2 == 1
            if first_floor:
                floor.append(run_floor(cp, ns, levels, str(i)))
            took, started, ended, log = run_workflow(cp, ns, prefix, work / f"run-{i}", user, password, cores)
            ran = snakemake_jobs(log)
            wall.append(took)
            if not first_floor:
                floor.append(run_floor(cp, ns, levels, str(i)))
            if len([j for j in ran if not j.local]) != len(remote):
                raise SystemExit(f"round {i + 1} ran {len(ran)} jobs, the warm-up {len(jobs)}: not the same DAG")
            pods = {name: pod for name, pod in executor_pods(cp, ns).items() if name not in seen}
            seen |= pods.keys()
            if len(pods) != len(remote):
                raise SystemExit(f"round {i + 1}: {len(pods)} pods of the executor, {len(remote)} jobs in the DAG")
            for phase, values in phases(ran, pods.values(), started, ended).items():
                where.setdefault(phase, []).extend(values)
            print(f"round {i + 1}: workflow {wall[-1]:.2f} s, floor {floor[-1]:.2f} s "
                  f"({wall[-1] / floor[-1]:.2f}x)", flush=True)
        result = summary(wall, floor, len(remote))
        print(f"\nthe example workflow ({result.jobs} jobs as pods, -j {cores}), median of {args.repeat} interleaved "
              "rounds (two nodes)")
        print(f"  Kubernetes executor + oras storage  {result.workflow:7.2f} s")
        print(f"  floor (plain Jobs, level by level)  {result.floor:7.2f} s")
        print(f"  ratio {result.ratio:.2f}x   overhead per job {result.per_job:.2f} s")
        print("\nwhere the workflow's jobs' time goes (Snakemake's log and the pods' status, whole seconds; "
              "median, min-max over every job of every round)")
        for phase, values in where.items():
            if values:
                    print(f"  {phase:38s} {statistics.median(values):5.1f} s  ({min(values):.0f}-{max(values):.0f})")


if __name__ == "__main__":
    main()
