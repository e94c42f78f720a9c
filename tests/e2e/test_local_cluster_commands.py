"""`scripts/local-cluster.sh up | status | down` as a user runs them (python3 -m localcluster,
which the script runs after setting up): on the whole machine, after the tests' own local cluster
is stopped, since one local cluster runs at a time. An `up` stopped by SIGTERM cleans up after
itself; one killed outright, its state file then garbled, is cleaned up by `down` from what runs
under its directory; a whole `up` is idempotent, keeps its secrets and etcd to itself, cannot be
reached from the LAN, and `down` leaves the machine as it found it."""

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

from localcluster.cluster import MAX_NODES
from localcluster.network import Network, forwarding, guard_chain, leftovers, other_kube_proxy
from localcluster.processes import running_under

pytestmark = pytest.mark.whole_machine
REPO = Path(__file__).resolve().parents[2]
NET = Network()  # the one `up` makes
KUBECONFIG = Path.home() / ".kube" / "kubectl-oras-local.yaml"
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


def cli(tmp_path: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "localcluster", *args], cwd=REPO, env=env(tmp_path),
                          capture_output=True, text=True, timeout=timeout)


def start_up(tmp_path: Path, nodes: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "localcluster", "up", "--nodes", str(nodes)], cwd=REPO,
                            env=env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


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


def kube_rules() -> list[str]:
    return [line for tool in ("iptables-save", "ip6tables-save")
            for line in subprocess.run([tool], capture_output=True, text=True).stdout.splitlines() if "KUBE" in line]


def assert_nothing_left(root: Path) -> None:
    assert running_under(root) == {}
    assert leftovers(NET, MAX_NODES) == []
    assert other_kube_proxy() == "" and kube_rules() == []
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
    # Once the first node's kube-proxy runs: its iptables chains are the machine's, to be cleaned up too.
    wait_state(root, up, lambda s: any(p["name"] == "kube-proxy" for n in s["nodes"] for p in n["processes"]))
    deadline = time.monotonic() + 30
    while not kube_rules() and time.monotonic() < deadline:
        time.sleep(0.2)
    up.kill()
    up.communicate(timeout=60)
    assert running_under(root) and kube_rules(), "nothing ran yet when `up` was killed: the test proves nothing"
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
                 ["ip", "-n", "korasx-lan", "route", "add", NET.cluster_cidr, "via", "10.250.0.1"],
                 ["ip", "-n", "korasx-lan", "route", "add", NET.services, "via", "10.250.0.1"]):
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

    # NodePorts on the nodes' own addresses only: never the LAN's, never 127.0.0.1 (route_localnet).
    deadline = time.monotonic() + 60
    def jumps() -> list[str]:
        return [rule for rule in kube_rules() if rule.startswith("-A KUBE-SERVICES") and "-j KUBE-NODEPORTS" in rule]

    while not jumps() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert jumps() and all(f"-d {NET.node_ip(0)}/32" in rule for rule in jumps()), jumps()  # none in IPv6
    assert ROUTE_LOCALNET.read_text() == before[1]

    # A host on the LAN routing the cluster's ranges through this machine reaches nothing in it;
    # without the guard it would (so this can fail).
    make_lan()
    try:
        targets = [(NET.api_address, NET.api_port), (NET.service_ip, 443)]
        assert [lan_connects(*t) for t in targets] == [False, False]
        chain = guard_chain(NET)
        subprocess.run(["iptables", "-t", "raw", "-D", "PREROUTING", "-j", chain], check=True)
        try:
            assert [lan_connects(*t) for t in targets] == [True, True]
        finally:
            subprocess.run(["iptables", "-t", "raw", "-I", "PREROUTING", "1", "-j", chain], check=True)
    finally:
        subprocess.run(["ip", "netns", "delete", "korasx-lan"], capture_output=True)

    down = cli(tmp_path, "down", timeout=300)
    assert down.returncode == 0, down.stderr
    assert_nothing_left(root)
    assert not KUBECONFIG.exists()
    assert (forwarding(), ROUTE_LOCALNET.read_text()) == before
