"""The provenance of what the sidecar pushes (docs/provenance.md): the pull's record of the inputs
it got, the step's record built from what the agent was told, and the statement attached to the
pushed manifest.

A record is built from the step description (written by the injection: the launcher's image and
command as its spec writes them), the pod's downward API variables (``POD_ENV``, read by name:
no other variable of the environment, a credential among them, is ever read here), the pull's
record and the run's markers. The share is writable to the step, so the times and inputs read
there are what the wrapper and the pull wrote unless the step itself replaced them.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..errors import OrasError
from ..pods.share import Run, Share
from ..pods.step import POD_ENV, StepDescription
from ..provenance.record import AGENT_BUILDER, Input, Produced
from ..times import format_rfc3339, parse_rfc3339
from .markers import read_marker, write_marker

if TYPE_CHECKING:
    from ..oci.client import RegistryClient
    from ..oci.push import PushResult
    from ..oci.reference import Reference

PULLED_MAX_BYTES = 1 << 20  # the pull's record: a name and a digest per input


def record_pulled(share: Share, pulled: list[Input]) -> None:
    """What the pull got, for the outputs' provenance (``pull/``, the agent's own directory)."""
    os.makedirs(share.pull, mode=0o755, exist_ok=True)
    write_marker(share.pulled_inputs, json.dumps([{"name": i.name, "digest": i.digest} for i in pulled]))


def pulled_inputs(share: Share) -> tuple[Input, ...]:
    """The pull's record read back; none when there is none (no inputs) or it is not one."""
    raw = read_marker(share.pulled_inputs, PULLED_MAX_BYTES)
    try:
        entries = json.loads(raw) if raw else []
    except ValueError:
        return ()
    if not isinstance(entries, list):
        return ()
    return tuple(Input(e["name"], e["digest"]) for e in entries
                 if isinstance(e, dict) and isinstance(e.get("name"), str) and isinstance(e.get("digest"), str))


def _time_in(path: str) -> str:
    moment = parse_rfc3339((read_marker(path, 64) or "").strip(), zone_required=True)
    return format_rfc3339(moment) if moment else ""


def _modified(path: str) -> str:
    try:
        return format_rfc3339(_dt.datetime.fromtimestamp(os.lstat(path).st_mtime, _dt.UTC))
    except OSError:
        return ""


def producer(step: StepDescription, run: Run, code: int, environ: Mapping[str, str]) -> Produced:
    """The step's record for the run that ended with ``code``: its end is when ``done`` was written."""
    pod, namespace, node = (environ.get(name, "") for name in POD_ENV)
    return Produced(builder=AGENT_BUILDER, namespace=namespace, workload=step.workload, pod=pod, node=node,
                    image=step.image, exit_code=code, started=_time_in(run.started), finished=_modified(run.done),
                    inputs=pulled_inputs(step.layout), argv=step.argv, shaped_by=dict(step.shaped_by))


def attach_statement(client: RegistryClient, ref: Reference, result: PushResult, produced: Produced) -> None:
    """The statement about the pushed manifest, attached as its referrer. A failure is said on the
    sidecar's log and does not fail the step: the output is stored, and that is what the step
    guarantees (docs/provenance.md)."""
    from ..oci.manifest import MANIFEST_MEDIA_TYPE, encode_manifest
    from ..oci.referrers import attach
    from ..provenance import statement

    subject = {"mediaType": MANIFEST_MEDIA_TYPE, "digest": result.digest, "size": len(encode_manifest(result.manifest))}
    document = statement.statement(subject_name=f"{ref.repository}:{ref.tag}", subject_digest=result.digest,
                                   produced=produced)
    try:
        attached = attach(client, ref.repository, subject, artifact_type=statement.MEDIA_TYPE,
                          payload=statement.encode(document))
    except OrasError as e:
        statement_not_attached(ref, result, e)
        return
    print(f"kubectl-oras: provenance of {ref} attached ({attached.digest}, indexed by {attached.indexed_by})",
          file=sys.stderr, flush=True)


def statement_not_attached(ref: Reference, result: PushResult, error: OrasError) -> None:
    """Say on the sidecar's log that the stored output has no statement: a warning, never a
    failure of the step (its output is stored)."""
    print(f"kubectl-oras: {ref}@{result.digest} is pushed, but its provenance statement is not: {error}",
          file=sys.stderr, flush=True)
