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
        if self.exit_code() is None:
            raise RuntimeError(f"{self.name} (pid {self.pid}) still runs 10s after SIGKILL")

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
        return {"name": self.name, "pid": self.pid, "log": str(self.log), "argv": self.argv,
                "started": self.started or _start_time(self.pid)}

    @classmethod
    def recorded(cls, record: dict) -> Process:
        # Without a start time to compare, a recorded pid is never taken for ours.
        return cls(str(record["name"]), int(record["pid"]), Path(record["log"]), argv=list(record.get("argv") or []),
                   started=str(record.get("started") or "unknown"))


def stop_all(processes: list[Process]) -> list[Process]:
    """Stop each, the last started first, every one tried even when one before would not stop;
    returns those still running, and raises naming them if any is."""
    failed = []
    for process in reversed(processes):
        try:
            process.stop()
        except RuntimeError as e:
            failed.append(str(e))
    if failed:
        raise RuntimeError("; ".join(failed))
    return [p for p in processes if p.exit_code() is None]


def _start_time(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def running_under(root: Path) -> dict[int, str]:
    """Processes whose command line names a path under ``root`` (a cluster's directory): every
    process a cluster starts does, so this finds them when no record of them was written (a
    command killed while it started them). pid -> command line; this process and its parents never,
    nor another user's (whose command line may name any path it likes)."""
    mine = {os.getpid(), *_ancestors()}
    prefix = str(root).rstrip("/").encode()
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in mine:
            continue
        try:
            if os.stat(f"/proc/{entry}").st_uid != os.getuid():
                continue
            words = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(_names_under(word, prefix) for word in words):
            found[int(entry)] = b" ".join(words).decode(errors="replace").strip()
    return found


def _names_under(word: bytes, prefix: bytes) -> bool:
    """``word`` (an argument such as ``--config=/x/y``) names ``prefix`` or a path under it."""
    at = word.find(prefix)
    while at != -1:
        end = at + len(prefix)
        if (at == 0 or word[at - 1:at] in b"=:,") and (end == len(word) or word[end:end + 1] == b"/"):
            return True
        at = word.find(prefix, at + 1)
    return False


def _ancestors() -> list[int]:
    pids, pid = [], os.getppid()
    while pid > 1:
        pids.append(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            break
    return pids


def stop_running_under(root: Path, timeout: float = 15) -> list[str]:
    """SIGTERM, then SIGKILL, every process running_under ``root``; what it stopped."""
    found = running_under(root)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in running_under(root):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        while running_under(root) and time.monotonic() < deadline:
            time.sleep(0.1)
    left = running_under(root)
    if left:
        raise RuntimeError(f"still running after SIGKILL: {', '.join(f'{p} ({c[:80]})' for p, c in left.items())}")
    return [f"{pid} ({cmd[:80]})" for pid, cmd in found.items()]


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
