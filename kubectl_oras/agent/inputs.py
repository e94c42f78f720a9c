"""oras-pull: install the wrapper and busybox into the share, then pull every input, verified."""

from __future__ import annotations

import os
import shutil
import sys
from importlib import resources
from typing import TYPE_CHECKING

from ..errors import OrasError
from ..pods.patterns import matching_tags, split_pattern
from ..pods.step import StepDescription
from . import connection

if TYPE_CHECKING:
    from ..oci.client import RegistryClient


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


class NoMatchingTag(OrasError):
    """An input's tag pattern matches no tag of its repository."""


def run(step: StepDescription) -> int:
    install_tools(step)
    if not step.inputs:
        return 0
    from ..oci.signals import alarm_after  # only now: a step without inputs starts without the HTTP stack

    client = connection.client(step, push=False)
    with alarm_after(step.timeout, what="pull the step's inputs"):  # also when a registry only drips
        # A cache created with the workflow may not be up yet.
        connection.wait_until_up(step, client, what=f"pull {', '.join(step.inputs)}")
        for index, name in enumerate(step.inputs):
            split = split_pattern(name)
            if split is None:
                pull_input(step, client, name, step.layout.inputs)
            else:
                pull_matches(step, client, index, *split)
    return 0


def pull_input(step: StepDescription, client: RegistryClient, name: str, outdir: str) -> None:
    from ..oci.pull import pull_artifact

    result = pull_artifact(client, connection.reference(step, name), outdir, unpack=step.unpack)
    print(f"kubectl-oras: pulled {name} ({result.digest}): {', '.join(f.title for f in result.files)}",
          file=sys.stderr)


def pull_matches(step: StepDescription, client: RegistryClient, index: int, repository: str, pattern: str) -> None:
    """Every tag of ``repository`` that ``pattern`` matches, each pulled as a plain input would be,
    into ``inputs/<tag>/`` (one after another: each pull already fetches its layers side by side)."""
    from ..oci.errors import NotFound

    ref = connection.reference(step, repository)
    try:
        tags = client.list_tags(ref.repository)
    except NotFound:  # a repository nothing was pushed to yet
        tags = []
    matches = matching_tags(pattern, tags)
    if not matches:
        raise NoMatchingTag(f"{step.input_key(index)}: no tag of {ref.repository} matches {pattern}")
    print(f"kubectl-oras: {repository}:{pattern} matches {len(matches)} tags: {', '.join(matches)}", file=sys.stderr)
    for tag in matches:
        pull_input(step, client, f"{repository}:{tag}", os.path.join(step.layout.inputs, tag))
