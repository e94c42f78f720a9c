"""python -m kubectl_oras.agent pull|push|prepare — what the injected containers run.

pull: the oras-pull init container (of pods injected before the sidecar pulled under every
restart policy). push: the oras-push sidecar (which pulls first, and again when a launcher started
again asks). prepare: that sidecar's postStart hook (agent/pull_in_sidecar.py).
"""

from __future__ import annotations

import os
import signal
import sys
import threading

# The push sidecar must outlive an early SIGTERM (pod deleted while it is still importing): catch
# it before anything heavy is imported, and let the watch loop see it.
STOP = threading.Event()
if sys.argv[1:] == ["push"]:
    signal.signal(signal.SIGTERM, lambda *_: STOP.set())

from ..pods.step import StepDescription  # noqa: E402
from . import error_text  # noqa: E402


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in ("pull", "push", "prepare"):
        print("usage: python -m kubectl_oras.agent pull|push|prepare", file=sys.stderr)
        return 2
    try:
        step = StepDescription.from_env()
        # Each side imports only what it needs: the pull sits on the step's critical path, and
        # with no inputs it needs no HTTP stack at all.
        if argv[0] == "pull":
            from . import inputs

            return inputs.run(step)
        if argv[0] == "prepare":  # the sidecar's postStart hook, when the sidecar pulls
            from . import pull_in_sidecar

            return pull_in_sidecar.prepare(step)
        from . import outputs

        return outputs.run(step, stop=STOP)
    except Exception as e:  # one line, never a traceback
        print(f"kubectl-oras {argv[0]}: error: {error_text(e)}", file=sys.stderr)
        return 0 if argv[0] == "prepare" else 1  # a failing hook restarts the sidecar, for ever


code = main(sys.argv[1:])
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)  # a failed pull's threads may still wait on a silent registry: they must not hold the exit
