"""The sidecar's pull: a short postStart hook, then the sidecar pulls, and pulls again on request.

Under every restart policy the pod has no oras-pull init container, whose exit the kubelet would
notice only at its next look, up to a second later (docs/pod-protocol.md). Instead:

- ``prepare``, the sidecar's postStart hook, puts the wrapper and busybox into the share (the
  launcher's command is that busybox) and makes ``pull/`` with its wake fifo. The kubelet starts
  the launcher as soon as the hook returns, so the hook does nothing that can take long: the
  kubelet cancels no running hook, and a pod deleted meanwhile would wait for it.
- ``pull``, in the sidecar's own process before it watches for runs, pulls and writes its
  answer, ``PULLED`` or ``PULL_FAILED: …`` (share.py's words), to ``pull/verdict``, then pokes
  the fifo. Its log is the sidecar's (``kubectl logs POD -c oras-push``), and SIGTERM stops it
  at once.
- The wrapper waits for that answer before anything else, and runs nothing after a failure.
- A launcher started again (restartPolicy OnFailure or Always) that finds the answer a failure
  given to an earlier run asks for the pull again (``runs/N/pull-again``); ``pull_again`` pulls
  and answers naming run N on the answer's second line. The pod's first pull answers run 1.

Neither ever fails its container: a failing hook makes the kubelet kill the sidecar and start it
again, for ever (a sidecar always restarts). A sidecar started again later in the pod's life
finds the answer there and pulls nothing; one that finds a pull started and never answered (the
sidecar was killed, say out of memory) answers ``PULL_FAILED`` rather than trying again for ever
(a launcher started again may still ask).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import stat
import sys
import threading
from typing import Any, NamedTuple

from ..pods.share import PULL_FAILED, PULLED, Run, Share, saying
from ..pods.step import StepDescription
from . import error_text
from .markers import read_marker, wake, write_marker
from .tools import install_tools


class PullAnswer(NamedTuple):
    """An answer to write into the share: the verdict, and the run that asked for the pull again
    ("" for the pod's first pull, which answers run 1)."""

    verdict: str
    run: str = ""


def prepare(step: StepDescription) -> int:
    """The postStart hook: always 0. What it cannot do goes to the sidecar's log (the hook's own
    output reaches none); the launcher's start then fails naming the busybox."""
    try:
        make_pull_dir(step.layout)
        install_tools(step)
    except Exception as e:
        to_sidecar_log(f"kubectl-oras prepare: error: {error_text(e)}")
    return 0


def to_sidecar_log(line: str) -> None:
    """A line into the sidecar's log from its hook: the hook runs in the sidecar's container,
    whose first process is the sidecar (unless the pod shares one process namespace)."""
    print(line, file=sys.stderr, flush=True)
    with contextlib.suppress(OSError):
        with open("/proc/1/cmdline", "rb") as f:
            if b"kubectl_oras.agent" not in f.read():
                return  # not the sidecar: a shared process namespace, or no pod at all
        with open("/proc/1/fd/2", "w") as log:
            log.write(line + "\n")


def make_pull_dir(layout: Share) -> None:
    """``pull/``, the agent's own (0755: a launcher running as another user cannot change the
    answer), with the wake fifo anyone may open (the wrapper holds it while it waits)."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(layout.pull, 0o755)
    os.chmod(layout.pull, 0o755)
    with contextlib.suppress(FileExistsError):
        os.mkfifo(layout.pull_wake, 0o666)
    os.chmod(layout.pull_wake, 0o666)


class PullStopped(Exception):
    """SIGTERM came while the sidecar pulled: the pod is going away."""


STOPPED = saying(PULL_FAILED, "stopped by SIGTERM (the pod is going away)")


def pull(step: StepDescription, stop: threading.Event) -> PullAnswer | None:
    """The sidecar's pull as it starts, in its main thread (the step's timeout is a SIGALRM).

    Returns the answer if it could not be written into the share (a full disk, say), for the
    caller to write again (``answer_again``); None once it is there.
    """
    layout = step.layout
    if os.path.lexists(layout.pull_verdict):
        return None  # started again later in the pod's life: the answer is there
    asked_by = ""
    try:
        make_pull_dir(layout)
        if os.path.lexists(layout.pull_started):
            asked_by = run_named(read_marker(layout.pull_started, 64) or "")
            verdict = (f"{PULL_FAILED}: an earlier pull in this pod ended without an answer (the sidecar was killed: out "
                       "of memory?); it is not tried again in this pod unless the launcher, started again, asks")
        else:
            os.close(os.open(layout.pull_started, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644))
            verdict = _pull(step, stop)
    except PullStopped:  # SIGTERM just as the handler went in
        verdict = STOPPED
    except Exception as e:
        verdict = saying(PULL_FAILED, error_text(e))
    return _answered(layout, PullAnswer(verdict, asked_by))


def pull_again(step: StepDescription, run: Run, stop: threading.Event) -> PullAnswer | None:
    """Pull again for ``run``, a launcher started again whose wrapper found the answer a failure
    given to an earlier run (the input may be there now, the registry up). ``pull/started`` names
    the run first, so a sidecar that dies pulling is answered for that run by the next one; the
    pull starts from an empty ``inputs/``."""
    layout = step.layout
    asked_by = str(run.number)
    print(f"kubectl-oras: run {asked_by} asks for the inputs again (the pull failed for an earlier run): pulling again",
          file=sys.stderr, flush=True)
    try:
        make_pull_dir(layout)
        write_marker(layout.pull_started, asked_by)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(layout.pull_verdict)
        empty_inputs(layout)
        verdict = _pull(step, stop)
    except PullStopped:
        verdict = STOPPED
    except Exception as e:
        verdict = saying(PULL_FAILED, error_text(e))
    return _answered(layout, PullAnswer(verdict, asked_by))


def empty_inputs(layout: Share) -> None:
    """Remove what the failed pull left in ``inputs/`` (an input pulled before the one that was
    missing, since replaced in the registry, would reach the step beside the new one); the
    directory itself, with its mode, stays. Links are removed, never followed."""
    with contextlib.suppress(FileNotFoundError), os.scandir(layout.inputs) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)


def _answered(layout: Share, answer: PullAnswer) -> PullAnswer | None:
    if answer.verdict != PULLED:
        print(f"kubectl-oras pull: error: {answer.verdict.removeprefix(saying(PULL_FAILED, ''))}", file=sys.stderr,
              flush=True)
    return answer_again(layout, answer)


def run_named(text: str) -> str:
    """The run a marker names (its first line, a number), or "" (the pod's first pull, run 1)."""
    first = text.split("\n", 1)[0].strip()
    return first if first.isdigit() else ""


def asked_again(layout: Share, runs: list[Run], served: set[int]) -> Run | None:
    """The first of ``runs`` that asks for the pull again and is owed it: the answer there is a
    failure given to another run, and this sidecar has not pulled for it yet (``served``: a
    request planted in the share costs one pull, never a loop)."""
    if not os.path.lexists(layout.pull_verdict) or not failed_answer(layout):
        return None
    given = run_named((read_marker(layout.pull_verdict, 1 << 20) or "").partition("\n")[2]) or "1"
    return next((run for run in runs if run.number not in served and str(run.number) != given
                 and os.path.lexists(run.pull_again)), None)


def _pull(step: StepDescription, stop: threading.Event) -> str:
    from .inputs import pull_all

    raising = [True]  # SIGTERM stops the pull once; after that, and after the pull, it only sets ``stop``

    def stopped(signum: int, frame: Any) -> None:
        stop.set()
        if raising[0]:
            raising[0] = False
            raise PullStopped

    previous = signal.signal(signal.SIGTERM, stopped)
    try:
        try:
            if stop.is_set():  # SIGTERM before the handler above
                return STOPPED
            pull_all(step)
            return PULLED
        finally:
            raising[0] = False
            signal.signal(signal.SIGTERM, previous)
    except PullStopped:
        return STOPPED
    except Exception as e:
        return saying(PULL_FAILED, error_text(e))


def answer_again(layout: Share, answer: PullAnswer, *, report: bool = True) -> PullAnswer | None:
    """Write the answer and wake the wrapper; None once written. If it cannot be written, the
    wrapper, if it waits, is told through the fifo (which needs no disk) that the pull failed:
    only a failure is ever taken from the fifo, which anyone in the pod may write."""
    try:
        write_marker(layout.pull_verdict, answer.verdict, *([answer.run] if answer.run else []))
        wake(layout.pull_wake)
        return None
    except Exception as e:
        reason = f"{PULL_FAILED}: cannot write the pull's answer into {layout.pull} ({error_text(e)})"
        if report:
            print(f"kubectl-oras pull: error: {reason.removeprefix(saying(PULL_FAILED, ''))}; trying again every second",
                  file=sys.stderr, flush=True)
        wake(layout.pull_wake, reason)
        return answer


def failed_answer(layout: Share) -> bool:
    """Whether the pull's answer in the share is a failure (the step will not run): anything but
    a regular file saying ``PULLED`` is one, as the wrapper reads it. Opened without following a
    link or blocking (a fifo planted there must not hold the sidecar)."""
    try:
        fd = os.open(layout.pull_verdict, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return False
    except OSError:
        return True
    try:
        return not (stat.S_ISREG(os.fstat(fd).st_mode) and os.read(fd, 64).split(b"\n")[0] == PULLED.encode())
    finally:
        os.close(fd)
