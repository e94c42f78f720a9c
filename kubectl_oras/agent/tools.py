"""The tools a launcher runs the pod protocol with, put into the share: the wrapper
(``oras-wrap.sh``) and a static busybox, so launchers without a shell can run it. Called by the
sidecar's postStart hook (``pull_in_sidecar.prepare``) and by the oras-pull init container
(``inputs.run``); imports nothing of either.
"""

from __future__ import annotations

import os
import shutil
from importlib import resources

from ..pods.step import StepDescription


def find_busybox() -> str:
    for candidate in (os.environ.get("KUBECTL_ORAS_BUSYBOX"), shutil.which("busybox"), "/bin/busybox"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError("no static busybox in this image (set KUBECTL_ORAS_BUSYBOX)")


def install_tools(step: StepDescription) -> None:
    """The wrapper and a static busybox, so launchers without a shell can run the protocol."""
    share = step.layout
    os.makedirs(share.bin, exist_ok=True)
    # The launcher may run as any user: it must create run directories and read inputs.
    for shared, mode in ((share.runs, 0o777), (share.inputs, 0o755)):
        os.makedirs(shared, exist_ok=True)
        os.chmod(shared, mode)
    for target, source in ((share.busybox, find_busybox()), (share.wrapper, None)):
        tmp = os.path.join(share.bin, f".{os.path.basename(target)}.tmp")
        if source:
            shutil.copyfile(source, tmp)
        else:
            with open(tmp, "wb") as f:
                f.write(resources.files("kubectl_oras.agent").joinpath("oras-wrap.sh").read_bytes())
        os.chmod(tmp, 0o755)
        os.replace(tmp, target)
