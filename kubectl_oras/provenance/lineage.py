"""The lineage of an artifact: the artifacts that led to it, found through the inputs each
statement names, and drawn as a tree (a terminal), JSON or dot (tools).

Pure: the walk is given ``read``, which says what one artifact is (the I/O is the caller's:
transfers/provenance.py reads manifests and referrers through a session).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .record import Input

MAX_ARTIFACTS = 1000  # a walk stops there: a graph that large is not read on a terminal anyway


@dataclass(frozen=True)
class Artifact:
    """One artifact of the graph, as its manifest and its statement say (``read``'s answer)."""

    name: str  # as it was asked for: repo:tag, or repo@digest
    digest: str
    producer: str = ""  # producer_said: `Job/run-7 pod run-7-x2k`, `pushed by context lab`
    image: str = ""
    inputs: tuple[Input, ...] = ()
    provenance: bool = False  # a statement was found
    problem: str = ""  # why it could not be read (gone, a statement that is not one), "" when it was


@dataclass(frozen=True)
class Lineage:
    root: str  # the key (digest) of the artifact asked about
    artifacts: dict[str, Artifact]  # by digest, in the order they were found

    def children(self, digest: str) -> list[str]:
        return [i.digest for i in self.artifacts[digest].inputs if i.digest in self.artifacts]


def split_name(name: str) -> tuple[str, str]:
    """``(repo, tag or digest)`` of ``repo:tag`` or ``repo@digest``, ``latest`` when neither (a
    registry's host is never in an input's name)."""
    repository, at, digest = name.partition("@")
    if at:
        return repository, digest
    head, colon, tag = name.rpartition(":")
    return (head, tag) if colon and "/" not in tag else (name, "latest")


def walk(name: str, read: Callable[[str, str], Artifact]) -> Lineage:
    """Every artifact ``name`` came from: ``read(repository, tag_or_digest)`` for the first, then for
    each input by digest, each digest once (a cycle or a shared input is read once)."""
    found = read(*split_name(name))
    first = Artifact(name, found.digest, found.producer, found.image, found.inputs, found.provenance, found.problem)
    artifacts = {first.digest: first}
    queue = [first]
    while queue and len(artifacts) < MAX_ARTIFACTS:
        for given in queue.pop(0).inputs:
            if given.digest in artifacts:
                continue
            found = read(split_name(given.name)[0], given.digest)
            artifacts[given.digest] = Artifact(given.name, given.digest, found.producer, found.image, found.inputs,
                                               found.provenance, found.problem)
            queue.append(artifacts[given.digest])
    return Lineage(first.digest, artifacts)


def _label(artifact: Artifact) -> str:
    said = [artifact.producer or ("no provenance" if not artifact.problem else "")]
    if artifact.image:
        said.append(f"image {artifact.image}")
    if artifact.problem:
        said.append(artifact.problem)
    details = ", ".join(s for s in said if s)
    return f"{artifact.name} {artifact.digest[:19]}…" + (f" ({details})" if details else "")


def as_tree(lineage: Lineage) -> str:
    """The graph as a tree: an input seen already is named again and marked, not expanded twice."""
    lines = [_label(lineage.artifacts[lineage.root])]
    shown = {lineage.root}

    def branch(digest: str, indent: str) -> None:
        children = lineage.children(digest)
        for index, child in enumerate(children):
            last = index == len(children) - 1
            again = child in shown
            lines.append(f"{indent}{'└── ' if last else '├── '}{_label(lineage.artifacts[child])}"
                         + (" (shown above)" if again else ""))
            if not again:
                shown.add(child)
                branch(child, indent + ("    " if last else "│   "))

    branch(lineage.root, "")
    return "\n".join(lines)


def as_data(lineage: Lineage) -> dict[str, Any]:
    """For -o json|yaml: the root's digest and every artifact with the digests of its inputs."""
    return {"root": lineage.root, "artifacts": [
        {"name": a.name, "digest": a.digest, "producer": a.producer, "image": a.image, "provenance": a.provenance,
         "inputs": [{"name": i.name, "digest": i.digest} for i in a.inputs],
         **({"problem": a.problem} if a.problem else {})}
        for a in lineage.artifacts.values()]}


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def as_dot(lineage: Lineage) -> str:
    """Graphviz: an edge from each artifact to each input it was made from."""
    lines = ["digraph lineage {", "  rankdir=LR;"]
    for artifact in lineage.artifacts.values():
        label = "\\n".join(_dot_text(t) for t in (artifact.name, artifact.producer, artifact.image) if t)
        lines.append(f'  "{artifact.digest}" [label="{label}"];')
    for artifact in lineage.artifacts.values():
        lines += [f'  "{artifact.digest}" -> "{child}";' for child in lineage.children(artifact.digest)]
    lines.append("}")
    return "\n".join(lines)
