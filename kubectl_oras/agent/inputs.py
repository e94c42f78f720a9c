"""The pull: install the wrapper and busybox into the share, then pull every input, verified.

Run by the oras-pull init container (``run``), or by the sidecar itself (pull_in_sidecar.py), whose
postStart hook installs the tools (``tools.install_tools``).
"""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING

from ..errors import OrasError
from ..pods.annotation_schema import count_key
from ..pods.annotations import PREFIX
from ..pods.patterns import MatchError, first_clash, select_matches, shortfall, split_pattern, surplus
from ..pods.step import StepDescription
from ..provenance.record import Input
from . import connection
from .input_wait import wait_for_inputs
from .provenance import record_pulled
from .tools import install_tools

if TYPE_CHECKING:
    from ..oci.client import RegistryClient
    from ..oci.pull import PullResult


class PatternInputError(OrasError):
    """A pattern input that cannot be pulled: its tag listing, its matches, or where they would go."""


def run(step: StepDescription) -> int:
    """The oras-pull init container: the wrapper and busybox into the share, then every input."""
    install_tools(step)
    pull_all(step)
    return 0


def pull_all(step: StepDescription) -> None:
    """Pull every input; the pattern inputs' matches last, once nothing can land on anything else.

    Each pattern's tags are listed, checked and logged before anything is pulled (with
    ``input-wait``, once every input is there: ``awaited_matches``); the plain inputs are pulled
    in order (a later one wins on equal names); then, if no pattern match's directory is a name
    another input places, the matches.
    """
    if not step.inputs:
        return
    from ..oci.signals import alarm_after  # only now: a step without inputs starts without the HTTP stack

    client = connection.client(step, push=False)
    started = time.monotonic()
    with alarm_after(step.timeout, what="pull the step's inputs"):  # also when a registry only drips
        # A cache created with the workflow may not be up yet.
        connection.wait_until_up(step, client, what=f"pull {', '.join(step.inputs)}")
        splits = {index: split for index, name in enumerate(step.inputs) if (split := split_pattern(name))}
        matches = awaited_matches(step, client, splits, started=started)
        for index, tags in matches.items():
            print(f"kubectl-oras: {step.input_key(index)}: {step.inputs[index]} pulls {len(tags)} tags: {', '.join(tags)}",
                  file=sys.stderr)
        refuse_clash(step, first_clash(matches))
        placed: dict[int, list[str]] = {}
        pulled: list[Input] = []
        for index, name in enumerate(step.inputs):
            if index not in splits:
                result = pull_input(step, client, name, step.layout.inputs)
                placed[index] = [f.title.split("/", 1)[0] for f in result.files]
                pulled.append(Input(name, result.digest))
        refuse_clash(step, first_clash(matches, placed))
        for index, tags in matches.items():
            repository = splits[index][0]
            for tag in tags:
                result = pull_input(step, client, f"{repository}:{tag}", os.path.join(step.layout.inputs, tag))
                pulled.append(Input(f"{repository}:{tag}", result.digest))
    try:
        record_pulled(step.layout, pulled)
    except OSError as e:  # the inputs are there: the outputs' provenance will name none
        print(f"kubectl-oras: cannot record the inputs pulled for the outputs' provenance: {e}", file=sys.stderr)


def pull_input(step: StepDescription, client: RegistryClient, name: str, outdir: str) -> PullResult:
    """One artifact into ``outdir``; a missing one says which tags there are."""
    from ..oci.errors import NotFound
    from ..oci.pull import pull_artifact, tags_said

    ref = connection.reference(step, name)
    try:
        result = pull_artifact(client, ref, outdir, unpack=step.unpack)
    except NotFound as e:
        raise NotFound(f"{e}; {tags_said(client, ref)}", status=e.status, codes=e.codes) from e
    print(f"kubectl-oras: pulled {name} ({result.digest}): {', '.join(f.title for f in result.files)}",
          file=sys.stderr)
    return result


def awaited_matches(step: StepDescription, client: RegistryClient, splits: dict[int, tuple[str, str]], *,
                    started: float) -> dict[int, list[str]]:
    """Each pattern input's tags, once every input is there: at once without ``input-wait`` (a
    pattern that matches nothing, or fewer than its count, fails the pull), else within it, and
    within what the step's timeout leaves of the pull begun at ``started`` (a monotonic time), so
    that the inputs still missing are named before its alarm rings."""
    bound, by_timeout = step.input_wait, False
    if bound is not None and step.timeout is not None:
        left = step.timeout - (time.monotonic() - started)
        if left < bound:
            bound, by_timeout = max(left, 0.0), True

    def look() -> tuple[dict[int, list[str]], list[str]]:
        matches, missing = {}, []
        for index, name in enumerate(step.inputs):
            if index in splits:
                matches[index] = list_matches(step, client, index, *splits[index])
                lacking = shortfall(*splits[index], matches[index], step.input_count(index))
            else:
                lacking = absent(step, client, name) if bound is not None else None  # without a wait: pulled at once
            if lacking:
                missing.append(f"{step.input_key(index)}: {lacking}")
        return matches, missing

    return wait_for_inputs(look, bound=bound, by_timeout=by_timeout)


def absent(step: StepDescription, client: RegistryClient, name: str) -> str | None:
    """Why a plain input is not there yet (with the tags there are); None when it is."""
    from ..oci.pull import tags_said

    ref = connection.reference(step, name)
    if client.resolve(ref.repository, ref.tag or ref.digest or "latest", what=f"look for {name}") is not None:
        return None
    return f"{name} is not there ({tags_said(client, ref)})"


def list_matches(step: StepDescription, client: RegistryClient, index: int, repository: str, pattern: str) -> list[str]:
    """The tags of ``repository`` that ``pattern`` matches now, each checked to be a tag (so a safe
    directory name), at most MAX_MATCHES, and no more than the input's count."""
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
    if too_many := surplus(ref.repository, pattern, tags, step.input_count(index)):
        raise PatternInputError(f"{count_said(step, index)}: {too_many}")
    return tags


def count_said(step: StepDescription, index: int) -> str:
    """What a message calls input ``index``'s count: its annotation, when the injection said the input's."""
    key = step.input_keys[index] if index < len(step.input_keys) else ""
    if not key.startswith(PREFIX):
        return f"the count of input {step.inputs[index]}"
    return f"annotation {PREFIX}{count_key(key.removeprefix(PREFIX))}"


def refuse_clash(step: StepDescription, clash: tuple[str, int, int] | None) -> None:
    """Two inputs that would place one name in input-path: never merged, never overwritten."""
    if clash is None:
        return
    name, one, other = clash
    raise PatternInputError(
        f"{step.input_key(one)} ({step.inputs[one]}) and {step.input_key(other)} ({step.inputs[other]}) would both "
        f"place {name} in input-path; nothing was merged and the step was not run: make the pattern match other "
        "tags, or pull these in different steps")
