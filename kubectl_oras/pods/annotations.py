"""The pod annotations (prefix ``oras.converged-computing.github.io/``): parse, validate, merge
with the controlling owner's, and render, each key as its kind in the schema's table says
(``annotation_schema.py``).

Every key the predecessor operator understood keeps its meaning (docs/annotations.md).
Pure: plain dicts in, a ``StepSettings`` (or an ``InvalidAnnotations`` naming the culprit) out.
"""

from __future__ import annotations

import dataclasses
import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..durations import positive_duration
from ..errors import OrasError
from ..fields import shown
from ..oci.errors import InvalidReference
from ..oci.reference import parse_name, registry_host_of
from ..orascache import DEFAULT_CACHE, NAME_RULE, is_cache_name
from . import annotation_schema as schema
from . import patterns, variables
from .annotation_schema import IGNORED, KEYS
from .share import SHARE_MOUNT, in_share
from .step import PUSH_ON_FAILURE

PREFIX = "oras.converged-computing.github.io/"

KNOWN = frozenset(k.key for k in KEYS)
# Always applied with fullmatch: `$` would also match before a trailing newline (a YAML `|` block).
INPUT_N = re.compile(r"input-uri_([0-9]+)")
COUNT_N = re.compile(r"input-count_([0-9]+)")
BOOLEAN = {"true": True, "false": False}
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
_HOST = re.compile(r"(?:https?://)?[A-Za-z0-9.-]+(?::[0-9]{1,5})?")


class InvalidAnnotations(OrasError):
    """The pod's annotations cannot be honoured; the message names the annotation."""


@dataclass(frozen=True)
class ArtifactName:
    """``repo:tag`` (or ``repo@digest``) inside the cache or the annotated registry."""

    repository: str
    tag: str | None  # may be a pattern (``run-*``) in an input; may hold $(VARIABLE)s until expanded
    digest: str | None = None
    key: str | None = field(default=None, compare=False, repr=False)  # the annotation it came from, without prefix

    def __str__(self) -> str:
        return self.repository + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")

    @property
    def is_pattern(self) -> bool:
        return bool(self.tag) and patterns.is_pattern(self.tag or "")


@dataclass(frozen=True)
class StepSettings:
    """What a marked pod asks for, validated."""

    cache: str = DEFAULT_CACHE
    inputs: tuple[ArtifactName, ...] = ()
    output: ArtifactName | None = None
    input_path: str | None = None
    output_path: str | None = None
    output_pipe: str | None = None
    container: str | None = None
    registry: str | None = None
    oras_env: str | None = None
    unpack: bool = True
    debug: bool = False
    push_on_failure: str = "never"
    timeout: float | None = None  # seconds each transfer of the step may take (pull of the inputs, push)
    input_overwrite: bool = False
    input_wait: float | None = None  # seconds the pull waits for inputs that do not exist yet
    input_counts: tuple[tuple[str, int], ...] = ()  # (an input's key, how many tags its pattern must match)
    warnings: tuple[str, ...] = field(default=(), compare=False)


def ours(annotations: Mapping[Any, Any] | None) -> dict[str, str]:
    """Our annotations, by key without the prefix.

    Raises InvalidAnnotations when ``annotations`` is not a map or one of our values is not a
    string (only a malformed object or an unquoted YAML scalar gets here: the apiserver decodes
    annotations as strings).
    """
    if annotations is None:
        return {}
    if not isinstance(annotations, Mapping):
        raise InvalidAnnotations(f"metadata.annotations must be a map of strings, not {shown(annotations)}")
    values: dict[str, str] = {}
    for key, value in annotations.items():
        if not (isinstance(key, str) and key.startswith(PREFIX)):
            continue
        if not isinstance(value, str):
            hint = "; quote it in YAML" if isinstance(value, int | float) or value is None else ""
            raise InvalidAnnotations(f"annotation {key}: the value must be a string, not {shown(value)}{hint}")
        values[key[len(PREFIX):]] = value
    return values


def is_marked(annotations: Mapping[Any, Any] | None) -> bool:
    return bool(ours(annotations))


def merge_owner(pod_annotations: Mapping[Any, Any] | None, owner_annotations: Mapping[Any, Any] | None) -> dict[str, str]:
    """The owner's keys (e.g. a Job annotated by `kubectl oras annotate`), the pod's own values winning."""
    merged = ours(owner_annotations)
    merged.update(ours(pod_annotations))
    return merged


def annotation_key(name: str) -> str:
    """The full annotation for one of our keys: what error messages name."""
    return PREFIX + name


def parse_artifact(value: str, *, key: str) -> ArtifactName:
    """``repo:tag`` with no registry host: the host is the cache's (or the ``registry`` annotation).

    The value may hold $(JOB_COMPLETION_INDEX) and $(POD_NAME) (checked with values of their
    kind; expand_for_pod checks the pod's own) and, in the tag alone, a pattern (``run-*``).
    """
    host = registry_host_of(value)
    if host:
        raise InvalidAnnotations(
            f"annotation {annotation_key(key)}: {value!r} names a registry host ({host}); write only repo:tag and "
            f"put the host in {annotation_key('registry')}"
        )
    try:
        variables.variables_in(value)
    except variables.VariableError as e:
        raise InvalidAnnotations(f"annotation {annotation_key(key)}: {e}") from None
    name, at, digest = value.partition("@")
    repository, colon, tag = name.rpartition(":") if ":" in name.rpartition("/")[2] else (name, "", "")
    if patterns.is_pattern(repository) or patterns.is_pattern(digest):
        raise InvalidAnnotations(
            f"annotation {annotation_key(key)}: {value!r}: a pattern (* or ?) may only be in the tag (repo:run-*)")
    if patterns.is_pattern(tag) and at:
        raise InvalidAnnotations(
            f"annotation {annotation_key(key)}: {value!r}: a tag pattern cannot go with a digest")
    checked = variables.sample(patterns.sample(value) if patterns.is_pattern(tag) else value)
    try:
        _, default_tag, _ = parse_name(checked, original=value)
    except InvalidReference as e:
        raise InvalidAnnotations(f"annotation {annotation_key(key)}: {e}") from e
    return ArtifactName(repository, tag if colon else default_tag, digest if at else None, key=key)


def expand_for_pod(settings: StepSettings, metadata: Mapping[str, Any]) -> StepSettings:
    """``settings`` with the variables in its artifacts expanded from the metadata of the pod being
    created, checked to give valid references. $(POD_NAME) in a pod whose name the apiserver will
    generate is left for the kubelet (variables.downward_env), checked against the longest name
    it may generate. Raises InvalidAnnotations naming the annotation and the variable."""
    name, generate_name = metadata.get("name"), metadata.get("generateName")
    index = variables.completion_index(metadata)
    known: dict[str, str] = {}
    if isinstance(name, str) and name:
        known[variables.POD_NAME] = name
    if index is not None and variables.is_completion_index(index):
        known[variables.JOB_COMPLETION_INDEX] = index
    generated = generate_name if isinstance(generate_name, str) and generate_name and not name else None

    def expanded(artifact: ArtifactName) -> ArtifactName:
        text = str(artifact)
        key = artifact.key or "input-uri"
        for needed in variables.variables_in(text):
            if needed in known or (needed == variables.POD_NAME and generated):
                continue
            if needed == variables.POD_NAME:
                why = "the pod has neither metadata.name nor metadata.generateName"
            elif index is None:
                why = (f"the pod has no {variables.COMPLETION_INDEX_KEY} annotation (only the pods of an "
                       "Indexed Job have one)")
            else:
                why = f"its {variables.COMPLETION_INDEX_KEY} annotation is {index!r}, not a completion index"
            raise InvalidAnnotations(f"annotation {annotation_key(key)}: $({needed}) cannot be expanded: {why}")
        result = variables.expand(text, known)
        final = variables.expand(result, {variables.POD_NAME: variables.generated_name_sample(generated or "")})
        if final != text:
            try:
                parse_artifact(final, key=key)
            except InvalidAnnotations as e:
                if final == result:
                    raise InvalidAnnotations(f"{e} (expanded from {text!r})") from None
                # The name is generated after admission: say what it may be, not the sample checked.
                said = str(e).replace(variables.generated_name_sample(generated or ""), "<generated name>")
                raise InvalidAnnotations(
                    f"{said} (expanded from {text!r}; the pod's name will be generated from generateName "
                    f"{generated!r}: up to {variables.GENERATED_PREFIX_MAX} of its characters and 5 more)") from None
        return parse_artifact(result, key=key)

    return dataclasses.replace(
        settings, inputs=tuple(expanded(i) for i in settings.inputs),
        output=expanded(settings.output) if settings.output else None)


def _cache_name(key: str, value: str) -> str:
    if not is_cache_name(value):  # the controller's rule: a cache of another name never runs a registry
        raise InvalidAnnotations(f"annotation {annotation_key(key)}: {value!r} cannot name an OrasCache: {NAME_RULE}")
    return value


def _pushed_artifact(key: str, value: str) -> ArtifactName:
    output = parse_artifact(value, key=key)
    if output.is_pattern:
        raise InvalidAnnotations(
            f"annotation {annotation_key(key)}: {str(output)!r}: a pattern (* or ?) can only be pulled "
            "(in an input-uri); push to one tag")
    if output.digest:
        raise InvalidAnnotations(f"annotation {annotation_key(key)}: push to a tag (repo:tag), not a digest")
    return output


def _path(key: str, value: str) -> str:
    if "\x00" in value or "\n" in value:
        raise InvalidAnnotations(f"annotation {annotation_key(key)}: the path contains a NUL or newline")
    return value


def _text(key: str, value: str) -> str:
    return value


def _host(key: str, value: str) -> str:
    if not _HOST.fullmatch(value):
        raise InvalidAnnotations(f"annotation {annotation_key(key)}: {value!r} is not HOST[:PORT] (optionally http://)")
    return value


def _secret(key: str, value: str) -> str:
    if not _DNS_SUBDOMAIN.fullmatch(value):
        raise InvalidAnnotations(f"annotation {annotation_key(key)}: {value!r} is not a valid Secret name")
    return value


def _boolean(key: str, value: str) -> bool:
    if value.strip().lower() not in BOOLEAN:
        raise InvalidAnnotations(f"annotation {annotation_key(key)}: {value!r} is not \"true\" or \"false\"")
    return BOOLEAN[value.strip().lower()]


def _push_policy(key: str, value: str) -> str:
    if value not in PUSH_ON_FAILURE:
        raise InvalidAnnotations(f"annotation {annotation_key(key)}: {value!r} is not one of {', '.join(PUSH_ON_FAILURE)}")
    return value


def _duration(key: str, value: str) -> float:
    try:
        return positive_duration(value)
    except ValueError as e:
        raise InvalidAnnotations(f"annotation {annotation_key(key)}: {e}") from None


# How a value of each kind of the schema's table is read (the key, for messages, and the value).
READERS: dict[str, Callable[[str, str], Any]] = {
    schema.CACHE: _cache_name, schema.PUSHED_ARTIFACT: _pushed_artifact, schema.PATH: _path, schema.TEXT: _text,
    schema.HOST: _host, schema.SECRET: _secret, schema.BOOLEAN: _boolean, schema.PUSH_POLICY: _push_policy,
    schema.DURATION: _duration,
}
# How a value of each kind is written back (render); the others are written as they are.
WRITERS: dict[str, Callable[[Any], str]] = {
    schema.PUSHED_ARTIFACT: str, schema.BOOLEAN: lambda value: "true" if value else "false",
    schema.DURATION: lambda seconds: _seconds(seconds),
}


def _seconds(seconds: float) -> str:
    """``3600000s``, ``0.5s``: plain digits, never an exponent (``3.6e+06s``) a duration cannot be."""
    return format(Decimal(repr(seconds)).normalize(), "f") + "s"


def _read(entry: schema.Key, values: dict[str, str]) -> Any:
    """The value of ``entry``'s key as its kind reads it; its default when absent (None: none)."""
    if entry.kind == schema.PULLED_ARTIFACTS:
        return _pulled_artifacts(entry, values)
    if entry.kind == schema.MATCH_COUNTS:
        return _match_counts(entry, values)
    value = values.get(entry.key, entry.default)
    return None if value is None else READERS[entry.kind](entry.key, value)


def _match_counts(entry: schema.Key, values: dict[str, str]) -> tuple[tuple[str, int], ...]:
    """(the input's key, the count) for the key and each numbered one; each a number of tags one
    pattern may pull. Whether its input is a pattern is checked once the inputs are read."""
    counts = []
    for key in sorted(k for k in values if k == entry.key or COUNT_N.fullmatch(k)):
        value = values[key]
        if not (value.isascii() and value.isdigit() and 1 <= int(value) <= patterns.MAX_MATCHES):
            raise InvalidAnnotations(f"annotation {annotation_key(key)}: {value!r} is not a number of tags from 1 to "
                                     f"{patterns.MAX_MATCHES} (the most one pattern may pull)")
        counts.append((schema.counted_input(key), int(value)))
    return tuple(counts)


def _check_counts(counts: tuple[tuple[str, int], ...], inputs: tuple[ArtifactName, ...]) -> None:
    """Each count goes with a pattern input of the same number."""
    by_key = {i.key: i for i in inputs}
    for input_key, _ in counts:
        key = schema.count_key(input_key)
        if input_key not in by_key:
            raise InvalidAnnotations(f"annotation {annotation_key(key)} counts the tags of annotation "
                                     f"{annotation_key(input_key)}, which is not given")
        if not by_key[input_key].is_pattern:
            raise InvalidAnnotations(
                f"annotation {annotation_key(key)}: annotation {annotation_key(input_key)} ({by_key[input_key]}) is not a tag "
                "pattern; a count goes only with a pattern (repo:run-*), whose matches the pull waits for")


def _pulled_artifacts(entry: schema.Key, values: dict[str, str]) -> tuple[ArtifactName, ...]:
    """The key, then its numbered keys in numeric order (KEY_01 beside KEY_1 is refused)."""
    inputs = []
    if entry.key in values:
        inputs.append(parse_artifact(values[entry.key], key=entry.key))
    numbered = sorted((int(m.group(1)), k) for k in values if (m := INPUT_N.fullmatch(k)))
    for (number, key), (other_number, other) in zip(numbered, numbered[1:], strict=False):
        if number == other_number:  # input-uri_01 beside input-uri_1: which comes first would be a key's spelling
            raise InvalidAnnotations(
                f"annotations {annotation_key(key)} and {annotation_key(other)} both number input {number}; "
                "give each input its own number (input-uri_1, input-uri_2, …)")
    for _, key in numbered:
        inputs.append(parse_artifact(values[key], key=key))
    _check_patterns_apart(inputs)
    return tuple(inputs)


SHARE_PATH_KEYS = tuple(sorted(k.key for k in KEYS if k.kind == schema.PATH))


def check_outside_share(settings: StepSettings, *, working_dir: str | None = None) -> None:
    """input-path, output-path and output-pipe must not be the share or lie in it: inputs copied
    there, or a step's output written there, would land on the markers the agent and the wrapper
    answer each other with (docs/pod-protocol.md). A relative path is judged from ``working_dir``
    (the launcher's workingDir) when known; the wrapper refuses at run time what only the step's
    filesystem can tell (links, the image's working directory)."""
    for key in SHARE_PATH_KEYS:
        path = getattr(settings, schema.KEY[key].field)
        if path is not None and in_share(path, working_dir=working_dir):
            where = f"{path} (from workingDir {working_dir})" if not path.startswith("/") else path
            raise InvalidAnnotations(
                f"annotation {annotation_key(key)}: {where} is in {SHARE_MOUNT}, the volume the cache's agent keeps "
                f"its answers in; nothing of the step may go there: choose a path outside {SHARE_MOUNT}")
    if working_dir is not None and settings.inputs and settings.input_path is None and in_share(working_dir):
        raise InvalidAnnotations(
            f"the launcher's workingDir {working_dir} is in {SHARE_MOUNT}, the volume the cache's agent keeps its answers "
            f"in, and the inputs would be copied there: set annotation {annotation_key('input-path')} outside it")


def output_name(path: str) -> str | None:
    """The name an output is pushed under (its base name), when the path alone says it.

    None when only the step's working directory can tell (``.``, ``..``, ``x/..``, ``/``): the
    wrapper names those after the directory they resolve to (docs/outputs.md).
    """
    name = posixpath.basename(posixpath.normpath(path))
    return None if name in ("", ".", "..") else name


def _check_output_names(output_path: str | None, output_pipe: str | None) -> None:
    """Two different outputs pushed under one name would lose one of them: deny, naming both."""
    if not output_path or not output_pipe:
        return
    name = output_name(output_path)
    if name is None or name != output_name(output_pipe):
        return
    if posixpath.isabs(output_path) != posixpath.isabs(output_pipe):
        return  # "/work/log.txt" and "log.txt" may be one file; the wrapper decides in the step's directory
    if posixpath.normpath(output_path) == posixpath.normpath(output_pipe):
        return  # one file declared twice (the predecessor's example): pushed once
    raise InvalidAnnotations(
        f"annotations {annotation_key('output-path')} ({output_path}) and {annotation_key('output-pipe')} "
        f"({output_pipe}) would both be pushed as {name!r}, and one would be lost; give them different names"
    )


def _check_patterns_apart(inputs: list[ArtifactName]) -> None:
    """Two pattern inputs pull each match into input-path/<tag>: if some tag could match both,
    one would land on the other. Deny, naming both (a $(VARIABLE) in one counts as a `*`)."""
    found = [i for i in inputs if i.is_pattern]
    if len(found) < 2:
        return
    anything = dict.fromkeys(variables.VARIABLES, "*")
    try:
        overlap = patterns.first_overlap([variables.expand(i.tag or "", anything) for i in found])
    except patterns.TooIntricate:
        keys = ", ".join(annotation_key(i.key or "input-uri") for i in found)
        raise InvalidAnnotations(f"annotations {keys}: these tag patterns are too intricate to tell whether two of "
                                 "them can match one tag; use fewer wildcards") from None
    if overlap:
        one, other, tag = found[overlap[0]], found[overlap[1]], overlap[2]
        raise InvalidAnnotations(
            f"annotations {annotation_key(one.key or 'input-uri')} ({one}) and {annotation_key(other.key or 'input-uri')} "
            f"({other}) are patterns that can both match one tag ({tag}, for one), and would both pull it into the "
            "same directory of input-path; make them match different tags, or pull them in different steps")


def parse_settings(values: dict[str, str]) -> StepSettings:
    """Validate our annotations (keys without prefix, e.g. from ``merge_owner``), each as its kind
    in the schema's table says; then what one key says of another."""
    warnings: list[str] = []
    for key in sorted(values):
        if key in IGNORED:
            warnings.append(f"annotation {annotation_key(key)} is ignored: {IGNORED[key]}")
            continue
        if key not in KNOWN and not INPUT_N.fullmatch(key) and not COUNT_N.fullmatch(key):
            raise InvalidAnnotations(
                f"annotation {annotation_key(key)} is not known; known keys: "
                f"{', '.join(sorted(KNOWN | {'input-uri_N', 'input-count_N'}))}"
            )
        if not values[key].strip():
            raise InvalidAnnotations(f"annotation {annotation_key(key)} is empty")
    read: dict[str, Any] = {entry.field: _read(entry, values) for entry in sorted(KEYS, key=_reading_order)}
    output, output_path, output_pipe = read["output"], read["output_path"], read["output_pipe"]
    _check_counts(read["input_counts"], read["inputs"])
    if output and not (output_path or output_pipe):
        raise InvalidAnnotations(
            f"annotation {annotation_key('output-uri')} needs {annotation_key('output-path')} (the file or directory to push)"
        )
    if (output_path or output_pipe) and not output:
        which = "output-path" if output_path else "output-pipe"
        raise InvalidAnnotations(f"annotation {annotation_key(which)} needs {annotation_key('output-uri')} (where to push it)")
    _check_output_names(output_path, output_pipe)
    settings = StepSettings(**read, warnings=tuple(warnings))
    check_outside_share(settings)
    return settings


def _reading_order(entry: schema.Key) -> int:
    """The cache, then the inputs, then the rest in the table's order: which of several bad keys is named."""
    return {schema.CACHE: 0, schema.PULLED_ARTIFACTS: 1}.get(entry.kind, 2)


def render(settings: StepSettings) -> dict[str, str]:
    """The annotations (with prefix) that parse back to ``settings``: a key at its default is left out."""
    out: dict[str, str] = {}
    for entry in KEYS:
        value = getattr(settings, entry.field)
        if entry.kind == schema.PULLED_ARTIFACTS:
            out.update({schema.numbered(entry.key, i): str(name) for i, name in enumerate(value)})
        elif entry.kind == schema.MATCH_COUNTS:  # each beside its input, as the inputs are numbered here
            number = {name.key: i for i, name in enumerate(settings.inputs)}
            out.update({schema.count_key(schema.numbered("input-uri", number[key])): str(count)
                        for key, count in value if key in number})
        elif value is not None and (text := WRITERS.get(entry.kind, str)(value)) != entry.default:
            out[entry.key] = text
    return {PREFIX + k: v for k, v in out.items()}


__all__ = [
    "PREFIX", "ArtifactName", "InvalidAnnotations", "StepSettings", "check_outside_share", "expand_for_pod",
    "is_marked", "merge_owner", "ours", "output_name", "parse_artifact", "parse_settings", "render",
]
