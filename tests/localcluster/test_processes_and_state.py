"""The local cluster's commands where no cluster runs: processes found by the directory their
command line names (what `down` stops when `up` was killed before it recorded them), and a state
file it cannot read."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from localcluster.network import Network
from localcluster.processes import running_under, stop_running_under
from tests.support.cluster_fixtures import up_options

REPO = Path(__file__).resolve().parents[2]


def _python(*args: str, ignore_term: bool = False) -> subprocess.Popen:
    code = ("import signal, time\n" + ("signal.signal(signal.SIGTERM, signal.SIG_IGN)\n" if ignore_term else "")
            + "print('ready', flush=True)\ntime.sleep(300)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, start_new_session=True)
    assert proc.stdout and proc.stdout.readline() == b"ready\n"
    return proc


def test_processes_naming_a_clusters_directory_are_stopped_and_no_others(tmp_path: Path):
    root = tmp_path / "local-cluster"
    polite = _python(f"--config={root}/node-1/config.yaml")
    stubborn = _python("-conf", f"{root}/coredns/Corefile", ignore_term=True)  # needs SIGKILL
    neighbour = _python(f"--data-dir={root}-other/etcd")
    # Another user naming the directory: not the cluster's, never signalled (nobody, 65534).
    stranger = subprocess.Popen(["/bin/sh", "-c", "echo ready; sleep 300; :", "sh", f"--config={root}/node-1/config.yaml"],
                                stdout=subprocess.PIPE, start_new_session=True, user=65534)
    assert stranger.stdout and stranger.stdout.readline() == b"ready\n"
    try:
        assert set(running_under(root)) == {polite.pid, stubborn.pid}
        stopped = stop_running_under(root, timeout=5)
        assert sorted(int(s.split()[0]) for s in stopped) == sorted([polite.pid, stubborn.pid])
        assert polite.wait(5) == -signal.SIGTERM and stubborn.wait(5) == -signal.SIGKILL
        assert neighbour.poll() is None  # its directory only shares a prefix
        assert stranger.poll() is None
        assert running_under(root) == {}
    finally:
        for p in (polite, stubborn, neighbour, stranger):
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), "HOME": str(tmp_path / "home")}
    return subprocess.run([sys.executable, "-m", "localcluster", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=60)


def test_a_state_file_it_cannot_read_is_one_line_naming_it_for_status_and_up(tmp_path: Path):
    state = tmp_path / "state" / "kubectl-oras" / "local-cluster" / "state.json"
    state.parent.mkdir(parents=True)
    state.write_text('{"network": {"name": "koras"}, "control_plane"')
    for command in (["status"], ["up", "--nodes", "1"]):
        result = _cli(tmp_path, *command)
        assert result.returncode == 1, result
        assert "Traceback" not in result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and f"{state} is not a local cluster's state" in lines[0], result.stderr
        assert "local-cluster.sh down" in lines[0]
    # Refused before starting anything, and nothing removed: the state file alone, no kubeconfig.
    assert [p.name for p in state.parent.iterdir()] == ["state.json"]
    assert not (tmp_path / "home" / ".kube").exists()


def test_a_state_directory_too_long_for_unix_sockets_is_refused_before_anything_starts(tmp_path: Path):
    deep = tmp_path / ("d" * 60)
    # A network of its own: with the defaults, a user's cluster that is up would be the refusal instead.
    own = Network(name=f"kl{os.getpid() % 100000}", pods="10.232", links="10.233", services="10.234.0.0/24")
    result = subprocess.run([sys.executable, "-m", "localcluster", "up", *up_options(own)], cwd=REPO,
                            capture_output=True, text=True,
                            env={**os.environ, "XDG_STATE_HOME": str(deep)}, timeout=60)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "too long a path for the unix sockets" in result.stderr and "XDG_STATE_HOME" in result.stderr
    assert not deep.exists()
