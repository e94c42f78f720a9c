"""Tier 2: kubectl's config flags, -A, -o and completion against a real apiserver with RBAC on.

--as is seen by RBAC (impersonation), with every --as-group (an API call, a watch's stream and a
port-forward's websocket upgrade); --token, --server and --certificate-authority reach the
apiserver with no usable user or cluster in the kubeconfig, and the token is in no output or log;
--user and --cluster pick kubeconfig entries; kubectl itself completes `kubectl oras` through
kubectl_complete-oras."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kubectl_oras.kube.api import ORAS_CACHES, PODS
from kubectl_oras.kube.channels import SUBPROTOCOL
from kubectl_oras.kube.config import connect
from kubectl_oras.kube.config_flags import ConfigFlags
from kubectl_oras.kube.errors import Forbidden, ObjectNotFound
from kubectl_oras.orascache import API_VERSION, KIND, PLURAL
from tests.cluster.apply import apply, apply_file, new_namespace, wait_for

REPO = Path(__file__).resolve().parents[2]
CRD = REPO / "manifests" / "crd-orascache.yaml"


def cli(*args: str, kubeconfig: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """The program as a user runs it: its global flags wherever ``args`` put them."""
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")}
    return subprocess.run([sys.executable, "-m", "kubectl_oras", *args], cwd=REPO, timeout=timeout,
                          env={**env, "KUBECONFIG": str(kubeconfig)}, capture_output=True, text=True)


@pytest.fixture(scope="module")
def caches(control_plane):
    """Two namespaces with a cache each; user jane may read caches in the first alone, and so may
    the ServiceAccount reader there."""
    apply_file(control_plane, CRD)
    wait_for(control_plane, f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{PLURAL}.{API_VERSION.split('/')[0]}",
             lambda crd: any(c["type"] == "Established" and c["status"] == "True"
                             for c in (crd.get("status") or {}).get("conditions") or []), timeout=60)
    first, second = new_namespace(control_plane, "flags-a"), new_namespace(control_plane, "flags-b")
    for ns, name in ((first, "alpha"), (second, "beta")):
        apply(control_plane, {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": name, "namespace": ns},
                              "spec": {}})
    apply(control_plane, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                          "metadata": {"name": "cache-reader", "namespace": first},
                          "rules": [{"apiGroups": [API_VERSION.split("/")[0]], "resources": ["orascaches"],
                                     "verbs": ["get", "list"]}]})
    apply(control_plane, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "reader", "namespace": first}})
    apply(control_plane, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                          "metadata": {"name": "cache-readers", "namespace": first},
                          "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "cache-reader"},
                          "subjects": [{"kind": "User", "name": "jane", "apiGroup": "rbac.authorization.k8s.io"},
                                       {"kind": "ServiceAccount", "name": "reader", "namespace": first}]})
    return first, second


def test_as_is_impersonation_that_rbac_sees(control_plane, caches):
    first, second = caches
    allowed = cli("--as", "jane", "status", "-n", first, "-o", "name", kubeconfig=control_plane.kubeconfig)
    assert (allowed.returncode, allowed.stdout) == (0, "orascache/alpha\n"), allowed.stderr
    refused = cli("-n", second, "--as=jane", "status", kubeconfig=control_plane.kubeconfig)  # flags before the command
    assert refused.returncode == 1
    assert refused.stderr.strip() == f'error: you cannot list orascaches in namespace {second} (User "jane")'
    as_admin = cli("status", "-n", second, "-o", "name", kubeconfig=control_plane.kubeconfig)
    assert as_admin.stdout == "orascache/beta\n"


RBAC = "rbac.authorization.k8s.io"


@pytest.fixture(scope="module")
def grouped(control_plane, caches):
    """A namespace whose cache only group g2 may read (list, watch) and port-forward to, and the
    kubeconfig of a ServiceAccount that may impersonate user dana in groups g1 and g2, nothing else."""
    ns = new_namespace(control_plane, "flags-g")
    apply(control_plane, {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": "gamma", "namespace": ns},
                          "spec": {}})
    apply(control_plane, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "impersonator", "namespace": ns}})
    apply(control_plane, {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRole", "metadata": {"name": f"{ns}-impersonate"},
                          "rules": [{"apiGroups": [""], "resources": ["users"], "verbs": ["impersonate"],
                                     "resourceNames": ["dana"]},
                                    {"apiGroups": [""], "resources": ["groups"], "verbs": ["impersonate"],
                                     "resourceNames": ["g1", "g2"]}]})
    apply(control_plane, {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRoleBinding", "metadata": {"name": f"{ns}-impersonate"},
                          "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": f"{ns}-impersonate"},
                          "subjects": [{"kind": "ServiceAccount", "name": "impersonator", "namespace": ns}]})
    apply(control_plane, {"apiVersion": f"{RBAC}/v1", "kind": "Role", "metadata": {"name": "g2-reader", "namespace": ns},
                          "rules": [{"apiGroups": [API_VERSION.split("/")[0]], "resources": ["orascaches"],
                                     "verbs": ["get", "list", "watch"]},
                                    {"apiGroups": [""], "resources": ["pods/portforward"], "verbs": ["get", "create"]}]})
    apply(control_plane, {"apiVersion": f"{RBAC}/v1", "kind": "RoleBinding", "metadata": {"name": "g2-readers", "namespace": ns},
                          "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": "g2-reader"},
                          "subjects": [{"kind": "Group", "name": "g2", "apiGroup": RBAC}]})
    return ns, control_plane.kubeconfig_for_service_account(ns, "impersonator")


def test_every_as_group_is_sent_and_rbac_sees_them_all(grouped):
    ns, impersonator = grouped
    # was refused before any request: "--as-group given 2 times (g1, g2): kubectl oras sends one group"
    for groups in (("g1", "g2"), ("g2", "g1")):  # neither the first nor the last alone
        flags = [arg for group in groups for arg in ("--as-group", group)]
        allowed = cli("--as", "dana", *flags, "status", "-n", ns, "-o", "name", kubeconfig=impersonator)
        assert (allowed.returncode, allowed.stdout) == (0, "orascache/gamma\n"), allowed.stderr
    refused = cli("status", "-n", ns, "--as", "dana", "--as-group", "g1", kubeconfig=impersonator)
    assert refused.returncode == 1
    assert refused.stderr.strip() == f'error: you cannot list orascaches in namespace {ns} (User "dana")'
    not_allowed = cli("--as", "dana", "--as-group", "g2", "--as-group", "g3", "status", "-n", ns, kubeconfig=impersonator)
    assert not_allowed.returncode == 1  # the impersonator may not
    assert not_allowed.stderr.strip() == ("error: you cannot impersonate groups g3 at cluster scope "
                                          f'(User "system:serviceaccount:{ns}:impersonator")')


def test_an_impersonation_refused_is_said_in_either_of_the_apiservers_wordings(control_plane, grouped):
    """kube-apiserver 1.36 words a refusal by its constrained impersonation check (no user or group
    named) until the caller has once impersonated through the legacy check, then by the legacy
    check (the refused group named): a fresh ServiceAccount sees both, each in the user's words."""
    ns, _ = grouped
    apply(control_plane, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "fresh", "namespace": ns}})
    apply(control_plane, {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRoleBinding", "metadata": {"name": f"{ns}-fresh"},
                          "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": f"{ns}-impersonate"},
                          "subjects": [{"kind": "ServiceAccount", "name": "fresh", "namespace": ns}]})
    fresh = control_plane.kubeconfig_for_service_account(ns, "fresh")
    caller = f'(User "system:serviceaccount:{ns}:fresh")'

    def refusal(*groups: str) -> str:
        flags = [arg for group in groups for arg in ("--as-group", group)]
        done = cli("--as", "dana", *flags, "status", "-n", ns, kubeconfig=fresh)
        assert done.returncode == 1, done.stdout
        return done.stderr.strip()

    # was the apiserver's own: "list orascaches in NS: orascaches.… is forbidden: User … cannot
    # impersonate-on:user-info:list resource "orascaches" in API group … in the namespace …"
    assert refusal("g2", "g3") == ("error: you cannot impersonate the --as user and groups to list orascaches "
                                   f"in namespace {ns} {caller}")
    allowed = cli("--as", "dana", "--as-group", "g2", "status", "-n", ns, "-o", "name", kubeconfig=fresh)
    assert (allowed.returncode, allowed.stdout) == (0, "orascache/gamma\n"), allowed.stderr
    assert refusal("g2", "g3") == f"error: you cannot impersonate groups g3 at cluster scope {caller}"
    assert refusal("g2", "g 3") == f'error: you cannot impersonate groups "g 3" at cluster scope {caller}'  # was g 3
    assert refusal("g2", "") == f"error: you cannot impersonate groups at cluster scope {caller}"  # no name said for ''


async def test_every_as_group_reaches_a_watch_and_a_port_forwards_upgrade(grouped):
    ns, impersonator = grouped

    async def as_dana(*groups: str):
        flags = ConfigFlags(impersonate="dana", impersonate_groups=groups)
        return await connect(kubeconfig=str(impersonator), environ={}, flags=flags)

    async def watch(kube) -> None:  # a watch that ends after a second
        async for _ in kube.stream(ORAS_CACHES.path(namespace=ns), what="watch orascaches", connect_timeout=10,
                                   read_timeout=30, query=[("watch", "1"), ("timeoutSeconds", "1")]):
            pass

    async def upgrade(kube) -> None:
        await kube.websocket(PODS.path(namespace=ns, name="no-such-pod", subresource="portforward"),
                             what="port-forward", query={"ports": "5000"}, protocol=SUBPROTOCOL)

    for groups in (("g1", "g2"), ("g2", "g1")):
        async with await as_dana(*groups) as kube:
            await watch(kube)
            with pytest.raises(ObjectNotFound):  # authorized: the upgrade reaches the pod's lookup (there is none)
                await upgrade(kube)
    async with await as_dana("g1") as kube:
        with pytest.raises(Forbidden):
            await watch(kube)
        with pytest.raises(Forbidden):  # refused before the pod is looked up
            await upgrade(kube)


def test_all_namespaces_lists_the_caches_of_every_namespace(control_plane, caches):
    first, second = caches
    listed = cli("status", "-A", "-o", "jsonpath={.items[*].namespace}", kubeconfig=control_plane.kubeconfig)
    assert listed.returncode == 0, listed.stderr
    assert {first, second} <= set(listed.stdout.split())
    refused = cli("--as", "jane", "status", "-A", kubeconfig=control_plane.kubeconfig)
    assert refused.stderr.strip() == 'error: you cannot list orascaches at cluster scope (User "jane")'


@pytest.fixture
def nowhere(tmp_path) -> Path:
    """A kubeconfig whose only context names a cluster that is not there and a user with no rights."""
    path = tmp_path / "nowhere.kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "nowhere",
        "clusters": [{"name": "nowhere", "cluster": {"server": "https://127.0.0.1:9"}}],
        "users": [{"name": "nobody", "user": {"token": "not-a-token"}}],
        "contexts": [{"name": "nowhere", "context": {"cluster": "nowhere", "user": "nobody"}}],
    }))
    return path


def test_token_server_and_ca_flags_reach_the_apiserver_and_the_token_is_never_shown(control_plane, caches, nowhere):
    first, _ = caches
    token = control_plane.service_account_token(first, "reader")
    aimed = ("--server", control_plane.server, "--token", token)
    done = cli(*aimed, "--certificate-authority", str(control_plane.ca.cert), "status", "-n", first, "-v", "6",
               "-o", "name", kubeconfig=nowhere)
    assert (done.returncode, done.stdout) == (0, "orascache/alpha\n"), done.stderr
    assert f"GET {control_plane.server}/apis/{API_VERSION}/namespaces/{first}/orascaches 200 in " in done.stderr
    unverified = cli(*aimed, "--insecure-skip-tls-verify", "status", "-n", first, "-o", "name", kubeconfig=nowhere)
    assert unverified.stdout == "orascache/alpha\n", unverified.stderr
    untrusted = cli(*aimed, "status", "-n", first, kubeconfig=nowhere)  # the system's CAs do not know this apiserver
    assert untrusted.returncode == 1 and "cannot reach the Kubernetes API" in untrusted.stderr
    for run in (done, unverified, untrusted):
        assert token not in run.stdout + run.stderr


def test_user_and_cluster_pick_the_kubeconfigs_entries(control_plane, caches, nowhere, tmp_path):
    first, _ = caches
    doc = yaml.safe_load(nowhere.read_text())
    admin = yaml.safe_load(Path(control_plane.kubeconfig).read_text())
    doc["clusters"] += [{**admin["clusters"][0], "name": "real"}]
    doc["users"] += [{**admin["users"][0], "name": "admin"}]
    both = tmp_path / "both.kubeconfig"
    both.write_text(yaml.safe_dump(doc))
    picked = cli("--cluster", "real", "--user", "admin", "status", "-n", first, "-o", "name", kubeconfig=both)
    assert picked.stdout == "orascache/alpha\n", picked.stderr
    unpicked = cli("status", "-n", first, "--request-timeout", "5s", kubeconfig=both)
    assert unpicked.returncode == 1 and "cannot reach the Kubernetes API at https://127.0.0.1:9" in unpicked.stderr
    wrong = cli("--user", "carol", "status", kubeconfig=both)
    assert wrong.stderr.strip() == f"error: --user carol: no such user in {both} (admin, nobody)"


def test_request_timeout_bounds_each_api_request(control_plane, caches):
    first, _ = caches
    cut = cli("status", "-n", first, "--request-timeout", "1ms", kubeconfig=control_plane.kubeconfig)
    assert cut.returncode == 1 and "cannot reach the Kubernetes API" in cut.stderr, cut.stderr
    bad = cli("status", "--request-timeout", "soon", kubeconfig=control_plane.kubeconfig)
    assert bad.returncode == 1 and bad.stderr.startswith("error: --request-timeout 'soon': ")


@pytest.fixture
def plugin_path(tmp_path) -> str:
    """PATH with this tree's kubectl-oras and kubectl_complete-oras, as pip's console scripts are."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, module in (("kubectl-oras", "kubectl_oras.cli"), ("kubectl_complete-oras", "kubectl_oras.cli.completion")):
        script = bin_dir / name
        script.write_text(f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(REPO)!r})\n"
                          f"from {module} import main\nmain()\n")
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return f"{bin_dir}{os.pathsep}{os.environ['PATH']}"


def test_kubectl_completes_kubectl_oras_through_kubectl_complete_oras(control_plane, caches, grouped, plugin_path):
    first, _ = caches
    env = {**os.environ, "PATH": plugin_path, "KUBECONFIG": str(control_plane.kubeconfig)}

    def complete(*words: str) -> list[str]:
        done = subprocess.run(["kubectl", "__complete", "oras", *words], env=env, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()

    commands = complete("sta")
    assert commands[0].startswith("status\t") and commands[-1] == ":4"
    assert complete("status", "-n", first, "") == ["alpha", ":4"]  # the cache names, from the cluster
    assert complete("-n", first, "delete-cache", "al") == ["alpha", ":4"]
    assert first in complete("status", "-n", "flags-")[:-1]  # namespaces
    _, second = caches
    assert complete("--as", "jane", "status", "-n", first, "") == ["alpha", ":4"]  # the config flags aim the lookup
    assert complete("--as", "jane", "status", "-n", second, "") == [":4"]  # jane may not list there: nothing
    grouped, _ = grouped  # a cache only group g2 may list; the admin may impersonate anyone
    assert complete("--as", "dana", "status", "-n", grouped, "") == [":4"]
    assert complete("--as", "dana", "--as-group", "g1", "status", "--as-group=g2", "-n", grouped, "") == ["gamma", ":4"]
    assert complete("status", "--a") == ["--all-namespaces", "--as", "--as-group", ":4"]
    help_text = subprocess.run(["kubectl", "oras", "status", "--help"], env=env, capture_output=True, text=True,
                               timeout=60).stdout
    assert help_text.startswith("Usage: kubectl oras status [OPTIONS]")  # kubectl runs it as its plugin
