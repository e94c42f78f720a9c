"""`scripts/local-cluster.sh up | status | down` as a user runs them (python3 -m localcluster,
which the script runs after setting up), with names and ranges of their own
(WHOLE_MACHINE_NETWORK), so a user's local cluster may run beside them: last, after the tests' own
local cluster is stopped (it would only take memory). An `up` stopped by SIGTERM cleans up after
itself; one killed outright, its state file then garbled, is cleaned up by `down` from what runs
under its directory; a whole `up` is idempotent, keeps its secrets and etcd to itself, writes none
of the host's iptables but its guard, cannot be reached from the LAN, runs beside a second local
cluster whose `down` leaves it whole, and its own `down` leaves the machine as it found it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from localcluster import images
from localcluster.cluster import LocalCluster
from localcluster.network import MAX_NODES, Network, forwarding, guard_chain, guard_jump, leftovers
from localcluster.processes import running_under
from tests.support.cluster_fixtures import BESIDE_NETWORK, WHOLE_MACHINE_NETWORK, up_options

pytestmark = pytest.mark.whole_machine
REPO = Path(__file__).resolve().parents[2]
NET = WHOLE_MACHINE_NETWORK  # the one `up` makes here
KUBECONFIG = Path.home() / ".kube" / f"{NET.context}.yaml"
ROUTE_LOCALNET = Path("/proc/sys/net/ipv4/conf/all/route_localnet")


@pytest.fixture
def tmp_path(whole_machine) -> Path:
    """A short directory of the test's own (pytest's are too long for the unix sockets under a
    cluster's directory, which `up` refuses)."""
    path = Path(tempfile.mkdtemp(prefix="koras-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The state directory `up` uses here (XDG_STATE_HOME under the test's own directory)."""
    yield tmp_path / "state" / "kubectl-oras" / "local-cluster"
    cli(tmp_path, "down", timeout=300)  # whatever happened above, the machine is left clean


def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}


def cli(tmp_path: Path, *args: str, timeout: float = 600, net: Network = NET) -> subprocess.CompletedProcess:
    """A command; `up` on ``net``."""
    options = up_options(net) if args[0] == "up" else []
    return subprocess.run([sys.executable, "-m", "localcluster", *args, *options], cwd=REPO, env=env(tmp_path),
                          capture_output=True, text=True, timeout=timeout)


def start_up(tmp_path: Path, nodes: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "localcluster", "up", "--nodes", str(nodes), *up_options(NET)],
                            cwd=REPO, env=env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_state(root: Path, proc: subprocess.Popen, ready: Callable[[dict], bool], timeout: float = 600) -> dict:
    """The state file once ``ready`` says so, while `up` still runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"up ended ({proc.returncode}) before the moment to stop it:\n{proc.communicate()[1]}"
        try:
            state = json.loads((root / "state.json").read_text())
        except (FileNotFoundError, ValueError):
            state = {}
        if state and ready(state):
            return state
        time.sleep(0.1)
    raise AssertionError(f"the state file never reached the moment to stop `up` at: {root / 'state.json'}")


def kube_rules(netns: str | None = None) -> list[str]:
    """The KUBE-* iptables rules of a node's network namespace, or of the host's."""
    prefix = ["ip", "netns", "exec", netns] if netns else []
    return [line for tool in ("iptables-save", "ip6tables-save")
            for line in subprocess.run([*prefix, tool], capture_output=True, text=True).stdout.splitlines() if "KUBE" in line]


def assert_nothing_left(root: Path) -> None:
    assert running_under(root) == {}
    assert leftovers(NET, MAX_NODES) == []
    assert kube_rules() == []  # no node ever wrote the host's tables
    assert not root.exists()


def test_up_stopped_by_sigterm_stops_what_it_started(tmp_path: Path, root: Path):
    before = forwarding()
    up = start_up(tmp_path, 2)
    # Mid-way: the control plane, the scheduler and CoreDNS run, the first node's containerd too.
    wait_state(root, up, lambda s: any(p["name"] == "containerd" for n in s["nodes"] for p in n["processes"]))
    up.send_signal(signal.SIGTERM)
    _, stderr = up.communicate(timeout=300)
    assert up.returncode == 1 and "interrupted" in stderr and "Traceback" not in stderr, stderr
    assert_nothing_left(root)
    assert forwarding() == before


def test_up_killed_outright_then_its_state_garbled_is_still_taken_down(tmp_path: Path, root: Path):
    up = start_up(tmp_path, 1)
    # Once the first node's kube-proxy runs: its iptables chains (in the node's namespace) go too.
    wait_state(root, up, lambda s: any(p["name"] == "kube-proxy" for n in s["nodes"] for p in n["processes"]))
    deadline = time.monotonic() + 30
    while not kube_rules(NET.netns(0)) and time.monotonic() < deadline:
        time.sleep(0.2)
    up.kill()
    up.communicate(timeout=60)
    assert running_under(root) and kube_rules(NET.netns(0)), "nothing ran yet when `up` was killed: the test proves nothing"
    (root / "state.json").write_text('{"network": ')
    status = cli(tmp_path, "status")
    assert status.returncode == 1 and "is not a local cluster's state" in status.stderr, status
    down = cli(tmp_path, "down", timeout=300)
    assert down.returncode == 0, down.stderr
    assert "removing what can be found without it" in down.stderr and "Traceback" not in down.stderr
    assert_nothing_left(root)


def lan_connects(address: str, port: int) -> bool:
    """Whether a host on a LAN that routes the cluster's ranges through this machine connects."""
    code = f"import socket; socket.create_connection(({address!r}, {port}), timeout=3).close()"
    return subprocess.run(["ip", "netns", "exec", "korasx-lan", sys.executable, "-c", code],
                          capture_output=True).returncode == 0


def make_lan() -> None:
    for argv in (["ip", "netns", "add", "korasx-lan"],
                 ["ip", "link", "add", "korasx-h", "type", "veth", "peer", "name", "eth0", "netns", "korasx-lan"],
                 ["ip", "addr", "add", "10.250.0.1/30", "dev", "korasx-h"], ["ip", "link", "set", "korasx-h", "up"],
                 ["ip", "-n", "korasx-lan", "addr", "add", "10.250.0.2/30", "dev", "eth0"],
                 ["ip", "-n", "korasx-lan", "link", "set", "eth0", "up"],
                 *(["ip", "-n", "korasx-lan", "route", "add", cidr, "via", "10.250.0.1"] for cidr in NET.ranges())):
        subprocess.run(argv, check=True, capture_output=True)


def test_a_whole_up_is_idempotent_private_unreachable_from_the_lan_and_down_restores_the_machine(
        tmp_path: Path, root: Path):
    before = (forwarding(), ROUTE_LOCALNET.read_text())
    up = cli(tmp_path, "up", "--nodes", "2")
    assert up.returncode == 0, up.stderr
    assert up.stdout == f"export KUBECONFIG={KUBECONFIG}\n"

    # Its secrets are its own: every key, kubeconfig and the state, and the directories holding them.
    assert root.stat().st_mode & 0o777 == 0o700
    secrets = [p for p in root.rglob("*") if p.suffix in (".key", ".kubeconfig") or p.name in ("kubeconfig", "state.json")]
    assert len(secrets) > 10
    assert {str(p): oct(p.stat().st_mode & 0o777) for p in secrets if p.stat().st_mode & 0o077} == {}

    # etcd answers only a client with a certificate from its own CA.
    state = json.loads((root / "state.json").read_text())
    etcd, pkidir = state["control_plane"]["etcd"], root / "control-plane" / "pki"
    assert etcd.startswith("https://127.0.0.1:")
    http = requests.Session()
    http.trust_env = False  # no proxy, no CA bundle from this machine's environment
    with pytest.raises(requests.RequestException):
        http.post(etcd.replace("https://", "http://") + "/v3/kv/range", json={"key": "AA=="}, timeout=5).raise_for_status()
    with pytest.raises(requests.exceptions.SSLError):
        http.post(f"{etcd}/v3/kv/range", json={"key": "AA=="}, verify=str(pkidir / "etcd-ca.crt"), timeout=5)
    answered = http.post(f"{etcd}/v3/kv/range", json={"key": "AA=="}, verify=str(pkidir / "etcd-ca.crt"),
                         cert=(str(pkidir / "etcd-client.crt"), str(pkidir / "etcd-client.key")), timeout=5)
    assert answered.status_code == 200  # the same request with the apiserver's certificate

    status = cli(tmp_path, "status")
    assert status.returncode == 0, status
    assert "node kubectl-oras-node: Ready" in status.stdout and "node kubectl-oras-node-2: Ready" in status.stdout
    again = cli(tmp_path, "up", "--nodes", "2")
    assert again.returncode == 0 and "already up" in again.stderr, again
    other = cli(tmp_path, "up", "--nodes", "1")
    assert other.returncode == 1 and "is up with 2 node(s)" in other.stderr, other

    # NodePorts on each node's own address only: never the LAN's, never 127.0.0.1 (route_localnet).
    # Each kube-proxy writes its own node's namespace: the host's tables hold no KUBE-* rule.
    def jumps(i: int) -> list[str]:
        return [rule for rule in kube_rules(NET.netns(i)) if rule.startswith("-A KUBE-SERVICES") and "-j KUBE-NODEPORTS" in rule]

    for i in range(2):
        deadline = time.monotonic() + 60
        while not jumps(i) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert jumps(i) and all(f"-d {NET.node_ip(i)}/32" in rule for rule in jumps(i)), jumps(i)  # none in IPv6
    assert kube_rules() == []
    assert ROUTE_LOCALNET.read_text() == before[1]

    a_second_cluster_runs_beside_it_and_its_down_leaves_this_one_whole(tmp_path, root)

    # A host on the LAN routing the cluster's ranges through this machine reaches nothing in it;
    # without the guard it would (so this can fail).
    make_lan()
    try:
        targets = [(NET.api_address, NET.api_port), (NET.service_ip, 443)]
        assert [lan_connects(*t) for t in targets] == [False, False]
        jump = guard_jump(NET)
        subprocess.run(["iptables", "-t", "raw", "-D", *jump], check=True)
        try:
            assert [lan_connects(*t) for t in targets] == [True, True]
        finally:
            subprocess.run(["iptables", "-t", "raw", "-I", jump[0], "1", *jump[1:]], check=True)
    finally:
        subprocess.run(["ip", "netns", "delete", "korasx-lan"], capture_output=True)

    down = cli(tmp_path, "down", timeout=300)
    assert down.returncode == 0, down.stderr
    assert_nothing_left(root)
    assert not KUBECONFIG.exists()
    assert (forwarding(), ROUTE_LOCALNET.read_text()) == before


def serving_pod(root: Path, node: str) -> Callable[[], str]:
    """A pod on ``node`` of the cluster of ``root`` that serves a page; what reads it from the host."""
    cp = LocalCluster.recorded(root).cp  # type: ignore[union-attr]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "survivor", "namespace": "default"},
           "spec": {"nodeName": node, "terminationGracePeriodSeconds": 1, "containers": [{
               "name": "serve", "image": images.shell_image().name, "imagePullPolicy": "Never",
               "command": ["sh", "-c", "echo alive > /tmp/index.html && exec busybox httpd -f -p 8080 -h /tmp"]}]}}
    cp.session().post(f"{cp.server}/api/v1/namespaces/default/pods", json=pod, timeout=10).raise_for_status()
    deadline = time.monotonic() + 120
    while True:
        status = cp.session().get(f"{cp.server}/api/v1/namespaces/default/pods/survivor", timeout=10).json()["status"]
        if status.get("phase") == "Running" and status.get("podIP"):
            break
        assert time.monotonic() < deadline, status
        time.sleep(0.5)
    http = requests.Session()
    http.trust_env = False

    def read() -> str:
        return http.get(f"http://{status['podIP']}:8080/index.html", timeout=5).text

    deadline = time.monotonic() + 30
    while True:  # until httpd listens
        try:
            read()
            return read
        except requests.RequestException:
            assert time.monotonic() < deadline
            time.sleep(0.3)


def a_second_cluster_runs_beside_it_and_its_down_leaves_this_one_whole(tmp_path: Path, root: Path) -> None:
    """What a user's cluster (here: the first) must survive: another `up` with its very names is
    refused in one line before anything is made; another with names and ranges of its own comes up
    beside it; that one's `down` takes none of the first's namespaces, links, guard, processes or
    kubeconfig, and the first's pod on its second node keeps serving."""
    read = serving_pod(root, NET.node_name(1))
    assert read() == "alive\n"
    mine = (leftovers(NET, MAX_NODES), sorted(running_under(root)), KUBECONFIG.read_text())
    names = {*(f"netns {NET.netns(i)}" for i in range(2)), *(f"link {NET.veth(i)}" for i in range(2)),
             f"iptables chain raw/{guard_chain(NET)}"}
    assert names <= set(mine[0]) and mine[1], mine  # and its pod's namespace; its processes

    same_names = cli(tmp_path / "c", "up", "--nodes", "1")
    assert same_names.returncode == 1 and "clashes with what this machine already has" in same_names.stderr
    assert len(same_names.stderr.strip().splitlines()) == 1 and NET.netns(0) in same_names.stderr, same_names.stderr
    assert not (tmp_path / "c").exists()

    beside = tmp_path / "v"  # short: the unix sockets under it
    try:
        second = cli(beside, "up", "--nodes", "1", net=BESIDE_NETWORK)
        assert second.returncode == 0, second.stderr
        assert cli(beside, "status").returncode == 0
    finally:
        taken_down = cli(beside, "down", timeout=300)
    assert taken_down.returncode == 0, taken_down.stderr
    assert leftovers(BESIDE_NETWORK, MAX_NODES) == []

    assert (leftovers(NET, MAX_NODES), sorted(running_under(root)), KUBECONFIG.read_text()) == mine
    status = cli(tmp_path, "status")
    assert status.returncode == 0 and status.stdout.count(": Ready") == 2, status.stdout
    assert read() == "alive\n"
