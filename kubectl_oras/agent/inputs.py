"""The pull: install the wrapper and busybox into the share, then pull every input, verified.

Run by the oras-pull init container (``run``), or by the sidecar itself (pull_in_sidecar.py), whose
postStart hook installs the tools (``install_tools``).
"""

from __future__ import annotations

import os
import shutil
import sys
from importlib import resources
from typing import TYPE_CHECKING

from ..errors import OrasError
from ..pods.patterns import MatchError, first_clash, select_matches, split_pattern
from ..pods.step import StepDescription
from . import connection

if TYPE_CHECKING:
    from ..oci.client import RegistryClient
    from ..oci.pull import PullResult


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


class PatternInputError(OrasError):
    """A pattern input that cannot be pulled: its tag listing, its matches, or where they would go."""


def run(step: StepDescription) -> int:
    """The oras-pull init container: the wrapper and busybox into the share, then every input."""
    install_tools(step)
    pull_all(step)
    return 0


def pull_all(step: StepDescription) -> None:
    """Pull every input; the pattern inputs' matches last, once nothing can land on anything else.

    Each pattern's tags are listed, checked and logged before anything is pulled; the plain inputs
    are pulled in order (a later one wins on equal names); then, if no pattern match's directory
    is a name another input places, the matches.
    """
    if not step.inputs:
        return
    from ..oci.signals import alarm_after  # only now: a step without inputs starts without the HTTP stack

    client = connection.client(step, push=False)
    with alarm_after(step.timeout, what="pull the step's inputs"):  # also when a registry only drips
        # A cache created with the workflow may not be up yet.
        connection.wait_until_up(step, client, what=f"pull {', '.join(step.inputs)}")
        splits = {index: split for index, name in enumerate(step.inputs) if (split := split_pattern(name))}
        matches = {index: list_matches(step, client, index, *split) for index, split in splits.items()}
        refuse_clash(step, first_clash(matches))
        placed: dict[int, list[str]] = {}
        for index, name in enumerate(step.inputs):
            if index not in splits:
                result = pull_input(step, client, name, step.layout.inputs)
                placed[index] = [f.title.split("/", 1)[0] for f in result.files]
        refuse_clash(step, first_clash(matches, placed))
        for index, tags in matches.items():
            repository = splits[index][0]
            for tag in tags:
                pull_input(step, client, f"{repository}:{tag}", os.path.join(step.layout.inputs, tag))


def pull_input(step: StepDescription, client: RegistryClient, name: str, outdir: str) -> PullResult:
    from ..oci.pull import pull_artifact

    result = pull_artifact(client, connection.reference(step, name), outdir, unpack=step.unpack)
    print(f"kubectl-oras: pulled {name} ({result.digest}): {', '.join(f.title for f in result.files)}",
          file=sys.stderr)
    return result


def list_matches(step: StepDescription, client: RegistryClient, index: int, repository: str, pattern: str) -> list[str]:
    """The tags of ``repository`` that ``pattern`` pulls, each checked to be a tag (so a safe
    directory name), at most MAX_MATCHES; logged in one line naming the annotation."""
    from ..oci.errors import NotFound

    ref = connection.reference(step, repository)
    try:
        listed = client.list_tags(ref.repository)
    except NotFound:  # a repository nothing was pushed to yet
        listed = []
    try:
        tags = select_matches(ref.repository, pattern, listed)
    except MatchError as e:
        raise PatternInputError(f"{step.input_key(index)}: {e}") from None
    print(f"kubectl-oras: {step.input_key(index)}: {repository}:{pattern} pulls {len(tags)} tags: {', '.join(tags)}",
          file=sys.stderr)
    return tags


def refuse_clash(step: StepDescription, clash: tuple[str, int, int] | None) -> None:
    """Two inputs that would place one name in input-path: never merged, never overwritten."""
    if clash is None:
        return
    name, one, other = clash
    raise PatternInputError(
        f"{step.input_key(one)} ({step.inputs[one]}) and {step.input_key(other)} ({step.inputs[other]}) would both "
        f"place {name} in input-path; nothing was merged and the step was not run: make the pattern match other "
        "tags, or pull these in different steps")
