"""Run the pod protocol as local processes: a temp dir stands in for the oras-share volume.

The sidecar runs without the capabilities that let root read and write any file (as the image's
non-root user in a real pod), so a file the launcher keeps to itself stays hidden from it. The
interpreter lives under /root here, so it cannot run as another uid; uid 0 without these
capabilities is held to the same permission checks for files it does not own.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from kubectl_oras.pods.share import Share
from kubectl_oras.pods.step import STEP_ENV, StepDescription, WrapperSettings, pull_wait, verdict_wait, wrapper_environment


@dataclass
class InitProcess:
    proc: subprocess.Popen

    def wait_done(self, timeout: float = 600) -> subprocess.CompletedProcess:
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            raise AssertionError(f"the init container did not end within {timeout} s:\n{err}") from None
        return subprocess.CompletedProcess(self.proc.args, self.proc.returncode, out, err)


@dataclass
class LocalPod:
    registry: str
    root: Path
    inputs: list[str] = field(default_factory=list)
    input_keys: list[str] = field(default_factory=list)  # the annotation of each input, as the injection says
    output: str | None = None
    input_path: str = ""
    output_path: str = ""
    output_pipe: str = ""
    push_on_failure: str = "never"
    input_overwrite: bool = False
    timeout: float | None = None
    input_wait: float | None = None  # annotation input-wait, in seconds
    input_counts: list[int | None] = field(default_factory=list)  # annotation input-count of each input
    runs_once: bool = False  # restartPolicy Never, the launcher alone: the sidecar pulls, and ends after the run
    # OnFailure or Always, the launcher alone: the sidecar pulls (and again when asked), and, under
    # OnFailure, ends after a run that succeeded (None: the older shape, an oras-pull init container)
    restart_policy: str | None = None
    verdict_wait: int | None = None  # the wrapper's bound on its wait for the verdict (None: the injection's)
    pull_wait: int | None = None  # the wrapper's bound on its wait for the pull's answer (None: the injection's)
    working_dir: Path | None = None  # the launcher's (default: root/work); root itself stands for `/`, holding the share
    sidecar: subprocess.Popen | None = None
    launched: list[subprocess.Popen] = field(default_factory=list)

    @property
    def sidecar_pulls(self) -> bool:
        return self.runs_once or self.restart_policy is not None

    @property
    def share(self) -> Path:
        return self.root / "share"

    @property
    def termination_log(self) -> Path:
        """The launcher's terminationMessagePath (in a pod, /dev/termination-log)."""
        return self.root / "termination-log"

    @property
    def workdir(self) -> Path:
        return self.working_dir or self.root / "work"

    def env(self) -> dict[str, str]:
        step = StepDescription(registry=self.registry, plain_http=True, inputs=tuple(self.inputs), output=self.output,
                               unpack=True, push_on_failure=self.push_on_failure, debug=True, share=str(self.share),
                               timeout=self.timeout, input_keys=tuple(self.input_keys),
                               pull_in_sidecar=self.sidecar_pulls, single_run=self.runs_once,
                               ends_after_success=self.restart_policy == "OnFailure",
                               input_wait=self.input_wait, input_counts=tuple(self.input_counts))
        return dict(os.environ, **{STEP_ENV: step.to_json()})

    def init(self, **env: str) -> subprocess.CompletedProcess:
        """The oras-pull init container (``env``: more of its environment)."""
        return self.start_init(**env).wait_done()

    def start_init(self, **env: str) -> InitProcess:
        """The oras-pull init container, started and not waited for."""
        self.share.mkdir(parents=True, exist_ok=True)
        self.workdir.mkdir(parents=True, exist_ok=True)
        return InitProcess(subprocess.Popen([sys.executable, "-m", "kubectl_oras.agent", "pull"],
                                            env=dict(self.env(), **env), stdout=subprocess.PIPE,
                                            stderr=subprocess.PIPE, text=True))

    def hook(self, timeout: float = 60, **env: str) -> subprocess.CompletedProcess:
        """The sidecar's postStart hook (a launcher that runs once): prepares the share, run as the sidecar runs."""
        self.share.mkdir(parents=True, exist_ok=True)
        self.workdir.mkdir(parents=True, exist_ok=True)
        return subprocess.run([sys.executable, "-m", "kubectl_oras.agent", "prepare"],
                              env=dict(self.env(), **env), capture_output=True, text=True, timeout=timeout,
                              preexec_fn=drop_file_capabilities)

    def start_sidecar(self, **env: str) -> None:
        """The oras-push native sidecar (``env``: more of its environment, e.g. credentials)."""
        self.share.mkdir(parents=True, exist_ok=True)  # the emptyDir: there before any container
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.sidecar = subprocess.Popen([sys.executable, "-m", "kubectl_oras.agent", "push"], env=dict(self.env(), **env),
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        preexec_fn=drop_file_capabilities)
        wait_for(lambda: catches_sigterm(self.sidecar.pid))

    def launcher(self, *argv: str, prefix: tuple[str, ...] = (), **popen) -> subprocess.Popen:
        """The launcher container: the wrapper running the step's argv (``prefix``: run it under, e.g. unshare)."""
        share = Share(str(self.share))
        settings = WrapperSettings(input_path=self.input_path, output_path=self.output_path,
                                   output_pipe=self.output_pipe, push=self.output is not None, debug=True,
                                   input_overwrite=self.input_overwrite, pulled_by_sidecar=self.sidecar_pulls,
                                   termination_log=str(self.termination_log),
                                   verdict_wait=self.verdict_wait or verdict_wait(self.timeout),
                                   pull_wait=self.pull_wait or pull_wait(self.timeout, self.input_wait))
        env = dict(os.environ, **wrapper_environment(settings, share))
        cmd = [*prefix, share.busybox, "sh", share.wrapper, *argv]
        popen.setdefault("start_new_session", True)
        proc = subprocess.Popen(cmd, cwd=self.workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, **popen)
        self.launched.append(proc)
        return proc

    def cleanup(self) -> None:
        """Whatever a failed test left running: the sidecar, and every launcher's process group."""
        for proc in [self.sidecar, *self.launched]:
            if proc is not None and proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL) if proc in self.launched else proc.kill()
                except ProcessLookupError:
                    pass
                proc.wait()

    def run_step(self, *argv: str, timeout: float = 60, **popen) -> tuple[int, str, str]:
        proc = self.launcher(*argv, **popen)
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, out, err

    def stop_sidecar(self, timeout: float = 10) -> tuple[int, str]:
        assert self.sidecar
        self.sidecar.send_signal(signal.SIGTERM)
        out, _ = self.sidecar.communicate(timeout=timeout)
        return self.sidecar.returncode, out


PR_CAPBSET_DROP = 24
FILE_CAPABILITIES = (1, 2, 3)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER


def drop_file_capabilities() -> None:
    """In the child before exec: root's permission bypasses leave the bounding set, so exec drops them."""
    if os.geteuid() != 0:
        return  # a non-root test run has no bypasses to drop
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in FILE_CAPABILITIES:
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), f"cannot drop capability {cap}")


def catches_sigterm(pid: int) -> bool:
    """Whether the process has installed a SIGTERM handler yet (SigCgt in /proc)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("SigCgt:"):
                return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    return False


@dataclass
class Lines:
    """What a process writes to one of its pipes, line by line, as it comes (read by a thread)."""

    lines: list[str] = field(default_factory=list)
    ended: bool = False

    def has(self, needle: str) -> bool:
        return any(needle in line for line in self.lines)


def follow(stream) -> Lines:
    seen = Lines()

    def read() -> None:
        for line in stream:
            seen.lines.append(line)
        seen.ended = True

    threading.Thread(target=read, daemon=True).start()
    return seen


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached")
