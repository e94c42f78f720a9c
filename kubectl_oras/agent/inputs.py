"""oras-pull: install the wrapper and busybox into the share, then pull every input, verified."""

from __future__ import annotations

import os
import shutil
import sys
from importlib import resources

from .step import Step


def find_busybox() -> str:
    for candidate in (os.environ.get("KUBECTL_ORAS_BUSYBOX"), shutil.which("busybox"), "/bin/busybox"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError("no static busybox in this image (set KUBECTL_ORAS_BUSYBOX)")


def install_tools(step: Step) -> None:
    """The wrapper and a static busybox, so launchers without a shell can run the protocol."""
    bindir = step.path("bin")
    os.makedirs(bindir, exist_ok=True)
    for shared in ("runs", "inputs"):
        # The launcher may run as any user: it must create run directories and read inputs.
        os.makedirs(step.path(shared), exist_ok=True)
        os.chmod(step.path(shared), 0o777 if shared == "runs" else 0o755)
    for name, source in (("busybox", find_busybox()), ("oras-wrap", None)):
        tmp = os.path.join(bindir, f".{name}.tmp")
        if source:
            shutil.copyfile(source, tmp)
        else:
            with open(tmp, "wb") as f:
                f.write(resources.files("kubectl_oras.agent").joinpath("oras-wrap.sh").read_bytes())
        os.chmod(tmp, 0o755)
        os.replace(tmp, os.path.join(bindir, name))


def run(step: Step) -> int:
    install_tools(step)
    if not step.inputs:
        return 0
    from ..pull import pull_artifact  # only now: a step without inputs starts without the HTTP stack

    client = step.client(push=False)
    for name in step.inputs:
        result = pull_artifact(client, step.reference(name), step.path("inputs"), unpack=step.unpack)
        print(f"kubectl-oras: pulled {name} ({result.digest}): {', '.join(f.title for f in result.files)}",
              file=sys.stderr)
    return 0
