"""The pull of a pod whose launcher runs once: a short postStart hook, then the sidecar pulls.

A pod with restartPolicy Never has no oras-pull init container, whose exit the kubelet would
notice only at its next look, up to a second later (docs/pod-protocol.md). Instead:

- ``prepare``, the sidecar's postStart hook, puts the wrapper and busybox into the share (the
  launcher's command is that busybox) and makes ``pull/`` with its wake fifo. The kubelet starts
  the launcher as soon as the hook returns, so the hook does nothing that can take long: the
  kubelet cancels no running hook, and a pod deleted meanwhile would wait for it.
- ``pull``, in the sidecar's own process before it watches for runs, pulls and writes its
  answer, ``pulled`` or ``pull-failed: …``, to ``pull/verdict``, then pokes the fifo. Its log is
  the sidecar's (``kubectl logs POD -c oras-push``), and SIGTERM stops it at once.
- The wrapper waits for that answer before anything else, and runs nothing after a failure.

Neither ever fails its container: a failing hook makes the kubelet kill the sidecar and start it
again, for ever (a sidecar always restarts). A sidecar started again later in the pod's life
finds the answer there and pulls nothing; one that finds a pull started and never answered (the
sidecar was killed, say out of memory) answers ``pull-failed`` rather than trying again for ever.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from typing import Any

from ..pods.share import Share
from ..pods.step import StepDescription
from . import error_text
from .markers import wake, write_marker

PULLED = "pulled"
FAILED = "pull-failed"


def prepare(step: StepDescription) -> int:
    """The postStart hook: always 0 (what it could not do, the launcher's start or the wrapper says)."""
    from .inputs import install_tools

    try:
        make_pull_dir(step.layout)
        install_tools(step)
    except Exception as e:  # the hook's output reaches no log: the launcher's start will fail naming the busybox
        print(f"kubectl-oras prepare: error: {error_text(e)}", file=sys.stderr)
    return 0


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


def pull(step: StepDescription, stop: threading.Event) -> None:
    """The sidecar's pull, once per pod, in its main thread (the step's timeout is a SIGALRM)."""
    layout = step.layout
    if os.path.lexists(layout.pull_verdict):
        return  # started again later in the pod's life: the inputs were pulled once
    try:
        make_pull_dir(layout)
        if os.path.lexists(layout.pull_started):
            verdict = (f"{FAILED}: an earlier pull in this pod ended without an answer (the sidecar was killed: out "
                       "of memory?); it is not tried again in this pod")
        else:
            os.close(os.open(layout.pull_started, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644))
            verdict = _pull(step, stop)
    except Exception as e:
        verdict = f"{FAILED}: {error_text(e)}"
    if verdict != PULLED:
        print(f"kubectl-oras pull: error: {verdict.removeprefix(FAILED + ': ')}", file=sys.stderr, flush=True)
    answer(layout, verdict)


def _pull(step: StepDescription, stop: threading.Event) -> str:
    from .inputs import pull_all

    def stopped(signum: int, frame: Any) -> None:
        stop.set()
        raise PullStopped

    previous = signal.signal(signal.SIGTERM, stopped)
    try:
        if stop.is_set():  # SIGTERM before the handler above
            raise PullStopped
        pull_all(step)
        return PULLED
    except PullStopped:
        return f"{FAILED}: stopped by SIGTERM (the pod is going away)"
    except Exception as e:
        return f"{FAILED}: {error_text(e)}"
    finally:
        signal.signal(signal.SIGTERM, previous)


def answer(layout: Share, verdict: str) -> None:
    """Write the verdict atomically, then wake the wrapper if it waits (markers.py)."""
    write_marker(layout.pull_verdict, verdict)
    wake(layout.pull_wake)
