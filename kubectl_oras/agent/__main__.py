"""python -m kubectl_oras.agent pull|push — what the injected containers run."""

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

from ..errors import OrasError  # noqa: E402
from ..pods.step import StepDescription  # noqa: E402


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in ("pull", "push"):
        print("usage: python -m kubectl_oras.agent pull|push", file=sys.stderr)
        return 2
    try:
        step = StepDescription.from_env()
        # Each side imports only what it needs: the pull init container sits on the step's
        # critical path, and with no inputs it needs no HTTP stack at all.
        if argv[0] == "pull":
            from . import inputs

            return inputs.run(step)
        from . import outputs

        return outputs.run(step, stop=STOP)
    except OrasError as e:
        print(f"kubectl-oras {argv[0]}: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"kubectl-oras {argv[0]}: error: {e.filename or ''} {e.strerror or e}", file=sys.stderr)
        return 1
    except Exception as e:  # still one line, never a traceback
        print(f"kubectl-oras {argv[0]}: error: unexpected {type(e).__name__}: {e}", file=sys.stderr)
        return 1


code = main(sys.argv[1:])
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)  # a failed pull's threads may still wait on a silent registry: they must not hold the exit
