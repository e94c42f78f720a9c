"""Tier 2: the cluster commands as a user bound only to the built-in `edit` ClusterRole in one
namespace (a RoleBinding; OrasCaches reach `edit` through manifests/rbac-users.yaml's
aggregation), run as processes (`python -m kubectl_oras … --kubeconfig`), against a real
apiserver with the controller and its webhook running. And the errors each command can meet."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kubectl_oras.pods.annotations import PREFIX
from kubectl_oras.pods.injection import PUSH_CONTAINER
from tests.cluster.apply import apply, apply_file, new_namespace, wait_for
from tests.support.net import free_port
from tests.webhook.process import controller_process

REPO = Path(__file__).resolve().parents[2]


def cli(*args: str, kubeconfig: Path | None, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")}
    argv = [sys.executable, "-m", "kubectl_oras", *args, *(["--kubeconfig", str(kubeconfig)] if kubeconfig else [])]
    return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def user_kubeconfig(cp, namespace: str, name: str) -> Path:
    """A ServiceAccount's kubeconfig whose context's namespace is ``namespace`` (the default for -n)."""
    path = cp.kubeconfig_for_service_account(namespace, name)
    config = yaml.safe_load(path.read_text())
    config["contexts"][0]["context"]["namespace"] = namespace
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def controller(control_plane, tmp_path_factory):
    with controller_process(control_plane, tmp_path_factory.mktemp("controller") / "controller.log",
                            agent_image="kubectl-oras:test") as replica:
        apply_file(control_plane, REPO / "manifests" / "rbac-users.yaml")
        # The controller manager aggregates our rules into `edit`.
        wait_for(control_plane, "/apis/rbac.authorization.k8s.io/v1/clusterroles/edit",
                 lambda role: any("orascaches" in (r.get("resources") or []) for r in role.get("rules") or []), timeout=60)
        yield replica


@pytest.fixture(scope="module")
def lab(control_plane, controller):
    """(namespace, kubeconfig of a user who may `edit` in it and nothing else)."""
    ns = new_namespace(control_plane, "lab")
    apply(control_plane, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "alice", "namespace": ns}})
    apply(control_plane, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                          "metadata": {"name": "alice-edit", "namespace": ns},
                          "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
                          "subjects": [{"kind": "ServiceAccount", "name": "alice", "namespace": ns}]})
    return ns, user_kubeconfig(control_plane, ns, "alice")


def test_create_status_and_delete_caches_as_an_edit_user(lab):
    ns, kubeconfig = lab
    made = cli("create-cache", "first", "--storage", "1Gi", "--keep-last", "3", kubeconfig=kubeconfig)
    assert made.returncode == 0, made.stderr
    assert f"orascache {ns}/first created" in made.stdout  # in the context's namespace, no -n given
    assert "warning: spec.retention.keepLast 3 counts tags, not runs" in made.stderr  # keepLastRuns counts runs
    again = cli("create-cache", "first", kubeconfig=kubeconfig)
    assert again.returncode == 1 and again.stderr.strip() == (
        f"error: cache 'first' exists in namespace {ns} already (kubectl oras status first -n {ns}; delete it first "
        f"to re-create it: kubectl oras delete-cache first -n {ns})")

    # No node: the registry pod never runs, and --wait says so with the condition's message.
    waited = cli("create-cache", "second", "--no-auth", "--wait", "--timeout", "4s", kubeconfig=kubeconfig)
    assert waited.returncode == 1
    assert "waiting: cache 'second'" in waited.stderr
    assert waited.stderr.strip().splitlines()[-1] == (
        f"error: cache 'second' in namespace {ns} is not ready after 4s (RegistryNotReady): waiting for the registry "
        "pod second-0 to be ready")

    shown = cli("status", "first", "-o", "json", "-n", ns, kubeconfig=kubeconfig)
    assert shown.returncode == 0, shown.stderr
    item = json.loads(shown.stdout)
    assert item["ready"] is False and item["endpoint"] == f"first.{ns}.svc:5000"
    assert item["storage"].startswith("pvc") and item["authSecret"] == "first-oras-auth"
    assert item["retention"] == {"keepLast": 3}
    assert item["warnings"][0].startswith("spec.retention.keepLast 3 counts tags, not runs")
    every = cli("status", kubeconfig=kubeconfig)
    assert every.returncode == 0 and f"{ns}/first: not ready" in every.stdout and f"{ns}/second: not ready" in every.stdout
    assert "  auth: off" in every.stdout
    as_yaml = yaml.safe_load(cli("status", "-o", "yaml", kubeconfig=kubeconfig).stdout)
    assert [i["name"] for i in as_yaml] == ["first", "second"]

    missing = cli("delete-cache", "third", kubeconfig=kubeconfig)
    assert missing.returncode == 1
    assert missing.stderr.strip() == f"error: no cache 'third' in namespace {ns}; caches here: first, second"
    gone = cli("delete-cache", "second", kubeconfig=kubeconfig)
    assert gone.returncode == 0, gone.stderr
    assert gone.stdout.strip() == (f"orascache {ns}/second deleted: its registry and Secrets go with it, and every "
                                   "artifact it held (they were in an emptyDir)")
    kept = cli("delete-cache", "first", kubeconfig=kubeconfig)
    assert "PersistentVolumeClaim go with it" in kept.stdout
    assert cli("status", kubeconfig=kubeconfig).stdout.strip() == \
        f"no caches in namespace {ns} (kubectl oras create-cache)"
    assert "there are none: kubectl oras create-cache" in cli("status", "x", kubeconfig=kubeconfig).stderr


async def test_the_access_contract_says_why_a_cache_cannot_be_used(control_plane, lab):
    from kubectl_oras.cluster.caches import CacheNotFound, CacheNotReady, cache_endpoint
    from kubectl_oras.kube.config import connect

    ns, kubeconfig = lab
    assert cli("create-cache", "pending", kubeconfig=kubeconfig).returncode == 0
    wait_for(control_plane, f"/apis/cache.converged-computing.github.io/v1alpha1/namespaces/{ns}/orascaches/pending",
             lambda cache: "registry pod" in json.dumps((cache.get("status") or {}).get("conditions")), timeout=60)
    async with await connect(kubeconfig=str(kubeconfig)) as kube:
        assert kube.namespace == ns
        with pytest.raises(CacheNotFound, match="caches here: pending"):
            await cache_endpoint(kube, ns, "nope")
        with pytest.raises(CacheNotReady) as e:
            await cache_endpoint(kube, ns, "pending")
    assert str(e.value) == (f"cache 'pending' in namespace {ns} is not ready (RegistryNotReady): waiting for the "
                            "registry pod pending-0 to be ready")
    assert cli("delete-cache", "pending", kubeconfig=kubeconfig).returncode == 0


def _job(name, *, suspend):
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"suspend": suspend, "backoffLimit": 0, "template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "main", "image": "busybox", "command": ["sh", "-c", "echo hi > out"]}]}}}}


def test_an_annotated_suspended_job_gets_injected_pods_once_unsuspended(control_plane, lab):
    ns, kubeconfig = lab
    assert cli("create-cache", kubeconfig=kubeconfig).returncode == 0  # "oras": the pods' default cache
    apply(control_plane, _job("train", suspend=True), namespace=ns)
    done = cli("annotate", "job/train", "--input", "data/in:v1", "--output", "results/train:v1", "--output-path", "out",
               kubeconfig=kubeconfig)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"job/train annotated in namespace {ns}" and done.stderr == ""
    job = control_plane.session().get(f"{control_plane.server}/apis/batch/v1/namespaces/{ns}/jobs/train").json()
    assert job["metadata"]["annotations"][PREFIX + "output-uri"] == "results/train:v1"
    assert not (job["spec"]["template"]["metadata"].get("annotations") or {})

    conflict = cli("annotate", "jobs/train", "--output", "results/other:v1", "--output-path", "out",
                   kubeconfig=kubeconfig)
    assert conflict.returncode == 1
    assert f"{PREFIX}output-uri is 'results/train:v1' already, not 'results/other:v1'; give --overwrite" in conflict.stderr
    bad = cli("annotate", "job.batch/train", "--input", "Not A Ref", "--overwrite", kubeconfig=kubeconfig)
    assert bad.returncode == 1 and f"{PREFIX}input-uri" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    # A cache that does not exist: the apiserver refuses the Job's update (the webhook checks workloads).
    nowhere = cli("annotate", "job/train", "--cache", "nowhere", "--overwrite", kubeconfig=kubeconfig)
    assert nowhere.returncode == 1 and len(nowhere.stderr.strip().splitlines()) == 1, nowhere.stderr
    assert "spec.template: no OrasCache named 'nowhere' in this namespace" in nowhere.stderr

    r = control_plane.session().patch(f"{control_plane.server}/apis/batch/v1/namespaces/{ns}/jobs/train",
                                      json={"spec": {"suspend": False}},
                                      headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text
    # The pod carries no annotation of its own: the webhook found the Job's through its owner reference.
    pods = wait_for(control_plane, f"/api/v1/namespaces/{ns}/pods?labelSelector=job-name%3Dtrain",
                    lambda listed: bool(listed["items"]), timeout=60)["items"]
    pod = pods[0]
    assert not any(k.startswith(PREFIX) for k in (pod["metadata"].get("annotations") or {}))
    assert [c["name"] for c in pod["spec"]["initContainers"]] == [PUSH_CONTAINER]  # restartPolicy Never: the sidecar pulls

    running = _job("live", suspend=False)
    apply(control_plane, running, namespace=ns)
    warned = cli("annotate", "job", "live", "--output", "r/x:v1", "--output-pipe", "log.txt", kubeconfig=kubeconfig)
    assert warned.returncode == 0 and "warning: Job/live" in warned.stderr


def test_a_user_without_rights_is_told_what_they_cannot_do(control_plane, lab):
    ns, _ = lab
    apply(control_plane, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "bob", "namespace": ns}})
    bob = user_kubeconfig(control_plane, ns, "bob")
    listed = cli("status", kubeconfig=bob)
    assert listed.returncode == 1
    assert listed.stderr.strip() == \
        f'error: you cannot list orascaches in namespace {ns} (User "system:serviceaccount:{ns}:bob")'
    made = cli("create-cache", "x", kubeconfig=bob)
    assert made.stderr.strip() == \
        f'error: you cannot create orascaches in namespace {ns} (User "system:serviceaccount:{ns}:bob")'
    annotated = cli("annotate", "deploy/web", "--input", "a:b", kubeconfig=bob)
    assert annotated.stderr.strip().startswith("error: you cannot get deployments in namespace")


def test_no_cluster_and_an_unknown_context_are_one_line_each(tmp_path):
    closed = tmp_path / "closed"
    closed.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "here",
        "clusters": [{"name": "c", "cluster": {"server": f"https://127.0.0.1:{free_port()}"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "here", "context": {"cluster": "c", "user": "u"}},
                     {"name": "there", "context": {"cluster": "c", "user": "u"}}]}))
    unreachable = cli("status", kubeconfig=closed)
    assert unreachable.returncode == 1 and len(unreachable.stderr.strip().splitlines()) == 1
    assert "cannot reach the Kubernetes API at https://127.0.0.1:" in unreachable.stderr
    unknown = cli("create-cache", "--context", "elsewhere", kubeconfig=closed)
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == f"error: no context 'elsewhere' in {closed}; contexts: here, there"
    nothing = cli("status", kubeconfig=tmp_path / "absent")
    assert nothing.returncode == 1 and "no cluster to talk to: no kubeconfig at" in nothing.stderr


def test_transfers_to_a_cache_say_why_it_cannot_be_used(control_plane, lab, tmp_path):
    """pull/push/tags/ls/rm/gc without --registry go to a cache; each reason it cannot be reached is
    one line: no such cache (those there are), not Ready (its condition's message), a Secret the
    user may not read, no cluster at all."""
    ns, kubeconfig = lab
    assert cli("create-cache", "waiting", kubeconfig=kubeconfig).returncode == 0
    wait_for(control_plane, f"/apis/cache.converged-computing.github.io/v1alpha1/namespaces/{ns}/orascaches/waiting",
             lambda cache: "registry pod" in json.dumps((cache.get("status") or {}).get("conditions")), timeout=60)

    missing = cli("pull", "metric/hwloc:iter-0", "-o", str(tmp_path), "--cache", "nope", kubeconfig=kubeconfig)
    assert missing.returncode == 1 and missing.stdout == ""
    assert missing.stderr.startswith(f"error: no cache 'nope' in namespace {ns}; caches here: ") and "waiting" in missing.stderr
    default = cli("tags", "metric/hwloc", "-n", ns, kubeconfig=kubeconfig)  # --cache defaults to oras
    assert default.returncode == 1 and f"cache 'oras' in namespace {ns}" in default.stderr, default.stderr

    for argv in (("pull", "metric/hwloc:iter-0", "-o", str(tmp_path)), ("push", "metric/hwloc:iter-0", str(tmp_path)),
                 ("ls",), ("rm", "metric/hwloc:iter-0"), ("gc", "--keep-last", "1", "--dry-run")):
        not_ready = cli(*argv, "--cache", "waiting", kubeconfig=kubeconfig)
        assert not_ready.returncode == 1, (argv, not_ready.stderr)
        line = not_ready.stderr.strip()
        assert "\n" not in line and line.startswith("error: cache 'waiting'") and "not ready" in line, (argv, line)
        assert "waiting for the registry pod waiting-0 to be ready" in line, line

    # A user who may read caches but not Secrets (the built-in `view`) is told which call was refused.
    apply(control_plane, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "bob", "namespace": ns}})
    apply(control_plane, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                          "metadata": {"name": "bob-view", "namespace": ns},
                          "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
                          "subjects": [{"kind": "ServiceAccount", "name": "bob", "namespace": ns}]})
    denied = cli("tags", "metric/hwloc", "--cache", "nope", kubeconfig=user_kubeconfig(control_plane, ns, "bob"))
    assert denied.returncode == 1 and f"no cache 'nope' in namespace {ns}" in denied.stderr  # view may list caches
    stranger = cli("tags", "metric/hwloc", "--cache", "waiting", "-n", "default",
                   kubeconfig=user_kubeconfig(control_plane, ns, "bob"))
    assert stranger.returncode == 1
    assert stranger.stderr.strip().startswith("error: you cannot get orascaches in namespace default"), stranger.stderr

    closed = tmp_path / "closed.kubeconfig"
    config = yaml.safe_load(Path(kubeconfig).read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{free_port()}"
    closed.write_text(yaml.safe_dump(config))
    nobody = cli("pull", "metric/hwloc:iter-0", "-o", str(tmp_path), kubeconfig=closed)
    assert nobody.returncode == 1 and "\n" not in nobody.stderr.strip()
    assert "cannot reach the Kubernetes API at https://127.0.0.1:" in nobody.stderr, nobody.stderr
    assert "or name a registry with --registry HOST:PORT" in nobody.stderr
    assert cli("delete-cache", "waiting", kubeconfig=kubeconfig).returncode == 0  # later modules count the caches
