"""The share: the emptyDir every injected container mounts, and where each marker lives in it.

Defined once here, with the words the sidecar's answers begin with (``PULLED``, ``PUSHED``, …).
The agent (Python) uses ``Share``, ``Run`` and the words; the wrapper (POSIX sh) gets the same
paths, names and words through its environment (``wrapper_environment`` in step.py), so none is
spelled twice. docs/pod-protocol.md says who writes what.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass

SHARE_VOLUME = "oras-share"
SHARE_MOUNT = "/oras"

# The first word of each answer the sidecar writes into a verdict file: ``pull/verdict`` holds
# ``pulled`` or ``pull-failed: <reason>``; ``runs/N/verdict`` holds ``pushed <ref>@<digest>``,
# ``not-pushed: <reason>`` or ``push-failed: <reason>`` (the wrapper says that one itself when no
# verdict comes). The wrapper receives each as KUBECTL_ORAS_VERDICT_<NAME> (step.py).
PULLED = "pulled"  # the inputs are in the share: the step may run
PULL_FAILED = "pull-failed"  # the step is not run (also the one answer the wrapper takes from pull/wake)
PUSHED = "pushed"  # the outputs are stored under the tag
NOT_PUSHED = "not-pushed"  # nothing to push by policy (no output-uri, a failed step): not a failure
PUSH_FAILED = "push-failed"  # the outputs are not known to be stored: the step fails
VERDICT_WORDS = {"PULLED": PULLED, "PULL_FAILED": PULL_FAILED, "PUSHED": PUSHED, "NOT_PUSHED": NOT_PUSHED,
                 "PUSH_FAILED": PUSH_FAILED}

# The launcher's exit code when the cache's agent, not the step, failed the run, so that a Job's
# podFailurePolicy can tell them from the step's own codes (docs/pod-protocol.md: fail fast on a
# missing input, try a failed push again). Codes no shell gives (126, 127, 128+signal) and few
# programs do. The wrapper receives each as KUBECTL_ORAS_EXIT_<NAME> (step.py).
PULL_FAILED_EXIT = 211  # the inputs could not be pulled: the step was not run
PUSH_FAILED_EXIT = 212  # the step exited 0, but its outputs are not known to be stored
EXIT_CODES = {"PULL_FAILED": PULL_FAILED_EXIT, "PUSH_FAILED": PUSH_FAILED_EXIT}


def saying(word: str, reason: str) -> str:
    """An answer with its reason, as the wrapper prints it: ``push-failed: <reason>``."""
    return f"{word}: {reason}"


def in_share(path: str, *, working_dir: str | None = None, mount: str = SHARE_MOUNT) -> bool:
    """Whether ``path`` is the share's mount or lies under it, as written: a relative path is taken
    from ``working_dir`` (None: not known here, so not in it). Links are the wrapper's to resolve,
    in the step's filesystem (docs/pod-protocol.md)."""
    if not posixpath.isabs(path):
        if working_dir is None or not posixpath.isabs(working_dir):
            return False
        path = posixpath.join(working_dir, path)
    normal = "/" + posixpath.normpath(path).lstrip("/")  # normpath keeps a leading "//"
    return normal == mount or normal.startswith(mount.rstrip("/") + "/")


@dataclass(frozen=True)
class Run:
    """``runs/N/``: one run of the launcher; ``mkdir`` of it is atomic, so runs never mix."""

    path: str

    # Names inside a run directory; the wrapper receives them as KUBECTL_ORAS_RUN_* (step.py).
    DONE = "done"  # the step's exit code: written by the wrapper (DONE + ".tmp", renamed)
    VERDICT = "verdict"  # PUSHED …, NOT_PUSHED: … or PUSH_FAILED: … (above): written by the sidecar
    WAKE = "wake"  # a fifo the sidecar pokes when the verdict is there
    OUTPUTS = "outputs"  # copies of output-path and output-pipe, made by the wrapper
    STDOUT = "stdout"  # a fifo: the step's stdout on its way to tee (output-pipe)
    SEEN = "seen"  # made by the wrapper once it has read the verdict: a sidecar that ends after one run waits for it
    PUSHING = "pushing"  # made by the sidecar as its push begins: found without a verdict, a sidecar died pushing
    # made by the wrapper of a launcher started again that finds the pull's answer a failure given
    # to an earlier run: the sidecar pulls again and answers this run (pull_in_sidecar.py)
    PULL_AGAIN = "pull-again"
    STARTED = "started"  # the UTC time the step started, by the wrapper: its outputs' provenance says it

    @property
    def number(self) -> int:
        return int(os.path.basename(self.path))

    @property
    def done(self) -> str:
        return os.path.join(self.path, self.DONE)

    @property
    def verdict(self) -> str:
        return os.path.join(self.path, self.VERDICT)

    @property
    def wake(self) -> str:
        return os.path.join(self.path, self.WAKE)

    @property
    def outputs(self) -> str:
        return os.path.join(self.path, self.OUTPUTS)

    @property
    def seen(self) -> str:
        return os.path.join(self.path, self.SEEN)

    @property
    def pushing(self) -> str:
        return os.path.join(self.path, self.PUSHING)

    @property
    def pull_again(self) -> str:
        return os.path.join(self.path, self.PULL_AGAIN)

    @property
    def started(self) -> str:
        return os.path.join(self.path, self.STARTED)


@dataclass(frozen=True)
class Share:
    root: str = SHARE_MOUNT

    @property
    def bin(self) -> str:
        return os.path.join(self.root, "bin")

    @property
    def busybox(self) -> str:
        """A static busybox, so launchers whose image has no shell can run the wrapper."""
        return os.path.join(self.bin, "busybox")

    @property
    def wrapper(self) -> str:
        return os.path.join(self.bin, "oras-wrap")

    @property
    def inputs(self) -> str:
        """Every input, pulled and verified, before the wrapper copies it to input-path."""
        return os.path.join(self.root, "inputs")

    @property
    def pull(self) -> str:
        """The pull's answer when the sidecar pulls: the agent's own, 0755."""
        return os.path.join(self.root, "pull")

    @property
    def pull_verdict(self) -> str:
        """``PULLED`` or ``PULL_FAILED: …``: the sidecar's answer, read by the wrapper before the step;
        on the next line, the run that asked for it again (none for the pod's first pull)."""
        return os.path.join(self.pull, "verdict")

    @property
    def pull_wake(self) -> str:
        """A fifo the sidecar writes a line into once the answer is there (the wrapper holds it open)."""
        return os.path.join(self.pull, "wake")

    @property
    def pull_started(self) -> str:
        """Made when the sidecar's pull begins (holding the run that asked for it again, if one did):
        found without an answer, an earlier sidecar died pulling."""
        return os.path.join(self.pull, "started")

    @property
    def pulled_inputs(self) -> str:
        """What the pull got, each input's name and digest (JSON), for the outputs' provenance."""
        return os.path.join(self.pull, "inputs")

    @property
    def runs(self) -> str:
        return os.path.join(self.root, "runs")

    def run(self, number: int) -> Run:
        return Run(os.path.join(self.runs, str(number)))
