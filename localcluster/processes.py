"""The processes a local cluster is made of, and waiting for them to listen.

A test's processes die with the test run (PR_SET_PDEATHSIG), so nothing outlives a crash; a
cluster brought up by `scripts/local-cluster.sh up` is detached and outlives the command that
started it (``detach=True``), and `down` stops it by the pids it recorded.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Children get SIGKILL if the test process dies, so no etcd or apiserver outlives a crash."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass
class Process:
    """One process of the cluster, in a process group of its own. ``proc`` is None for a process
    a previous command started (a detached cluster read back from its state file)."""

    name: str
    pid: int
    log: Path
    proc: subprocess.Popen | None = None
    argv: list[str] = field(default_factory=list)
    started: str = ""  # /proc/PID/stat's start time: a pid reused after a reboot is not ours

    def exit_code(self) -> int | None:
        """None while it runs."""
        if self.proc is not None:
            return self.proc.poll()
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return -1
        if self.started and _start_time(self.pid) != self.started:
            return -1
        try:
            if Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return -1
        except OSError:
            return -1
        return None

    def stop(self, timeout: float = 15) -> None:
        if self.exit_code() is not None:
            return
        self._signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.exit_code() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.exit_code() is None:
            self._signal(signal.SIGKILL)
            deadline = time.monotonic() + 10
            while self.exit_code() is None and time.monotonic() < deadline:
                time.sleep(0.05)

    def _signal(self, sig: int) -> None:
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            pass

    def tail(self, n: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def record(self) -> dict:
        return {"name": self.name, "pid": self.pid, "log": str(self.log), "started": self.started or _start_time(self.pid)}

    @classmethod
    def recorded(cls, record: dict) -> Process:
        # Without a start time to compare, a recorded pid is never taken for ours.
        return cls(record["name"], int(record["pid"]), Path(record["log"]), started=record.get("started") or "unknown")


def _start_time(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def start_process(name: str, argv: list[str], root: Path, *, detach: bool = False, netns: str | None = None) -> Process:
    """Start ``argv`` with its output in ``root/name.log``; in the network namespace ``netns`` if
    given (only the network: mounts and cgroups stay the host's, which the kubelet and containerd
    of one node must share). A detached process outlives this one; otherwise it dies with it."""
    log = root / f"{name}.log"
    full = (["nsenter", f"--net=/run/netns/{netns}", "--"] if netns else []) + argv
    proc = subprocess.Popen(full, stdout=open(log, "wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            cwd=root, start_new_session=True, preexec_fn=None if detach else die_with_parent)
    return Process(name, proc.pid, log, proc, list(argv))


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_listening(host: str, port: int, *, timeout: float = 20.0, proc=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {host}:{port}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {host}:{port} after {timeout}s")
