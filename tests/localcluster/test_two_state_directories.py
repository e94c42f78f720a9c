"""Two local clusters' state directories on one machine: `down` of one removes what its own
directory made (its nodes' namespaces and veths, its guard, its processes, its kubeconfig) and
never the other's, with its state file readable, garbled, or never written. The parts are made by
hand (no cluster runs in tier 1), under names of this test's own."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from localcluster.cluster import NETWORK
from localcluster.controlplane import write_kubeconfig
from localcluster.network import Network, guard_chain, leftovers, make_guard, remove_guard
from tests.support.cluster_fixtures import up_options

REPO = Path(__file__).resolve().parents[2]


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


@dataclass
class Made:
    """What `up` of one state directory made, by hand: a node's namespace joined by a veth, the
    guard chain, a process naming the directory, and a kubeconfig signing in with its admin."""

    state_home: Path
    network: Network
    process: subprocess.Popen
    kubeconfig: Path

    @property
    def root(self) -> Path:
        return self.state_home / "kubectl-oras" / "local-cluster"


def network(label: str) -> Network:
    pid = os.getpid() % 100000  # names no other run of this test (another worktree's) has
    return Network(name=f"k{label}{pid}", pods="10.232", links="10.233", services="10.234.0.0/24")


def make(tmp_path: Path, home: Path, label: str, kubeconfig_name: str, processes: list[subprocess.Popen]) -> Made:
    net = network(label)
    made_home = tmp_path / label
    root = made_home / "kubectl-oras" / "local-cluster"
    (root / "node-1").mkdir(parents=True)
    (root / NETWORK).write_text(json.dumps(net.__dict__))
    _run("ip", "netns", "add", net.netns(0))
    _run("ip", "link", "add", net.veth(0), "type", "veth", "peer", "name", "eth0", "netns", net.netns(0))
    make_guard(net)
    code = "print('ready', flush=True); import time; time.sleep(300)"
    process = subprocess.Popen([sys.executable, "-c", code, f"--config={root}/node-1/kube-proxy/config.yaml"],
                               stdout=subprocess.PIPE, start_new_session=True)
    processes.append(process)
    assert process.stdout and process.stdout.readline() == b"ready\n"
    (home / ".kube").mkdir(parents=True, exist_ok=True)
    kubeconfig = write_kubeconfig(home / ".kube" / kubeconfig_name, server="https://10.233.0.1:6443", ca=b"ca",
                                  user={"client-certificate": str(root / "control-plane/pki/admin.crt"),
                                        "client-key": str(root / "control-plane/pki/admin.key")},
                                  name=kubeconfig_name.removesuffix(".yaml"))
    return Made(made_home, net, process, kubeconfig)


def still_there(made: Made) -> list[str]:
    found = leftovers(made.network, 1)
    found += ["process"] if made.process.poll() is None else []
    found += ["kubeconfig"] if made.kubeconfig.exists() else []
    found += ["directory"] if made.root.exists() else []
    return found


def clean(net: Network, processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
    subprocess.run(["ip", "netns", "delete", net.netns(0)], capture_output=True)
    subprocess.run(["ip", "link", "delete", net.veth(0)], capture_output=True)
    remove_guard(net)


def down(state_home: Path, home: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "localcluster", "down"], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "XDG_STATE_HOME": str(state_home), "HOME": str(home)}, timeout=120)


@pytest.mark.parametrize("state", ["readable", "garbled", "never written"])
def test_down_removes_its_own_directorys_parts_and_never_another_directorys(tmp_path: Path, state: str):
    home = tmp_path / "home"
    # The other cluster's kubeconfig at the default path: whose it is, is what it signs in with.
    processes: list[subprocess.Popen] = []
    try:
        other = make(tmp_path, home, "b", "kubectl-oras-local.yaml", processes)
        mine = make(tmp_path, home, "a", "kubectl-oras-local-mine.yaml", processes)
        if state == "readable":
            (mine.root / "state.json").write_text(json.dumps({
                "network": mine.network.__dict__, "forwarding_before": "", "control_plane": None, "processes": [],
                "nodes": [{"root": str(mine.root / "node-1"), "index": 0, "processes": []}]}))
        if state == "garbled":
            (mine.root / "state.json").write_text('{"network": ')
        assert still_there(mine) == [f"netns {mine.network.netns(0)}", f"link {mine.network.veth(0)}",
                                     f"iptables chain raw/{guard_chain(mine.network)}", "process", "kubeconfig",
                                     "directory"]

        result = down(mine.state_home, home)
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
        assert still_there(mine) == [], result.stderr
        assert len(still_there(other)) == 6, f"{still_there(other)}\n{result.stderr}"

        # A directory that made nothing (an `up` refused before it began) takes nothing down.
        nothing = down(tmp_path / "nothing", home)
        assert nothing.returncode == 0 and "no local cluster to take down" in nothing.stderr, nothing.stderr
        assert len(still_there(other)) == 6, nothing.stderr
    finally:
        for label in ("a", "b"):
            clean(network(label), processes)


def up(state_home: Path, home: Path, net: Network) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "localcluster", "up", "--nodes", "2", *up_options(net)], cwd=REPO,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "XDG_STATE_HOME": str(state_home), "HOME": str(home)})


def test_up_refuses_a_network_whose_names_or_ranges_are_taken_in_one_line_before_making_anything(tmp_path: Path):
    net = network("c")
    services = f"10.235.{os.getpid() % 256}.0/24"
    _run("ip", "netns", "add", net.netns(1))  # another cluster's second node, say
    _run("ip", "route", "add", "blackhole", f"{services[:-3]}/28")  # anything's route into the range
    try:
        for taken, culprit in ((net, f"netns {net.netns(1)}"), (replace(network("d"), services=services),
                                                                 f"{services} (route blackhole {services[:-3]}/28")):
            result = up(tmp_path / "state", tmp_path / "home", taken)
            assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and culprit in lines[0] and "clashes" in lines[0], result.stderr
            assert not (tmp_path / "state").exists() and not (tmp_path / "home").exists()
            assert leftovers(taken, 8) == ([f"netns {net.netns(1)}"] if taken == net else [])
    finally:
        subprocess.run(["ip", "netns", "delete", net.netns(1)], capture_output=True)
        subprocess.run(["ip", "route", "delete", "blackhole", f"{services[:-3]}/28"], capture_output=True)
