"""The pod annotation schema as one table of plain data: every key, its kind, its default, what
it means, and the flag of `kubectl oras annotate` that sets it.

Parsing and rendering (``annotations.py``), the values `annotate` writes (``annotate.py:
Request``) and `annotate`'s flags (``cli/annotate.py``) are derived from it, and
docs/annotations.md's table is checked against it. It imports only the OrasCache contract (plain
data too), so the command line's help
reads it without loading the pod logic (docs/architecture.md).
"""

from __future__ import annotations

from typing import NamedTuple

from ..orascache import DEFAULT_CACHE

# Kinds: how a value is read (annotations.py: parse_settings) and written back (render).
CACHE = "cache"  # an OrasCache's name
PULLED_ARTIFACTS = "pulled artifacts"  # the key, then KEY_1, KEY_2, … in numeric order: repo:tag (a tag pattern too)
MATCH_COUNTS = "match counts"  # the key, then KEY_1, …: how many tags the pattern input of the same number waits for
PUSHED_ARTIFACT = "pushed artifact"  # one repo:tag, no pattern, no digest
PATH = "path"  # a path in the step's container (no NUL, no newline)
TEXT = "text"  # a name the injection looks up in the pod (a container's)
HOST = "host"  # HOST[:PORT], optionally http://
SECRET = "secret"  # a Secret's name
BOOLEAN = "boolean"  # "true" or "false"
PUSH_POLICY = "push policy"  # one of step.py's PUSH_ON_FAILURE
DURATION = "duration"  # 90s, 10m, … (durations.py), more than zero


# NamedTuples, not dataclasses: the command line builds these at every start, and a dataclass
# costs several times as much to define.
class Flag(NamedTuple):
    """How `kubectl oras annotate` sets a key: its option names and what its help shows for the value."""

    names: tuple[str, ...]
    metavar: str
    repeatable: bool = False  # each use one more value (PULLED_ARTIFACTS)


class Key(NamedTuple):
    """One annotation (without the prefix)."""

    key: str
    field: str  # its StepSettings field, and the name annotate's Python API and Request give it
    kind: str
    default: str | None  # as written in an annotation; None: nothing
    help: str  # the flag's help, when it has a flag
    flag: Flag | None = None


# In the order `kubectl oras annotate --help` lists the flags, then the keys it has no flag for.
KEYS: tuple[Key, ...] = (
    Key("output-uri", "output", PUSHED_ARTIFACT, None, "repo:tag to push after the step.", Flag(("--output",), "REF")),
    Key("output-path", "output_path", PATH, None, "What to push.", Flag(("--output-path",), "PATH")),
    Key("input-uri", "inputs", PULLED_ARTIFACTS, None, "repo:tag to pull before the step (repeatable).",
        Flag(("--input",), "REF", repeatable=True)),
    Key("input-path", "input_path", PATH, None, "Where inputs go.", Flag(("--input-path",), "PATH")),
    Key("output-pipe", "output_pipe", PATH, None, "File that gets the step's stdout (pushed too).",
        Flag(("--output-pipe",), "PATH")),
    Key("container", "container", TEXT, None, "The container that runs the step.", Flag(("--container", "-c"), "NAME")),
    Key("oras-cache", "cache", CACHE, DEFAULT_CACHE, f"The OrasCache (default: {DEFAULT_CACHE}).",
        Flag(("--cache",), "NAME")),
    Key("input-wait", "input_wait", DURATION, None, "How long the pull waits for inputs not pushed yet (90s, 10m).",
        Flag(("--input-wait",), "DURATION")),
    Key("input-count", "input_counts", MATCH_COUNTS, None, "How many tags the pattern of input-uri (input-count_K: "
        "of input-uri_K) must match: the pull waits for them, within input-wait."),
    Key("registry", "registry", HOST, None, "A registry other than the cache, HOST[:PORT] (http:// for plain HTTP)."),
    Key("oras-env", "oras_env", SECRET, None, "The Secret with that registry's credentials."),
    Key("unpack", "unpack", BOOLEAN, "true", "Unpack directory layers of inputs."),
    Key("debug", "debug", BOOLEAN, "false", "The wrapper says what it does on stderr."),
    Key("push-on-failure", "push_on_failure", PUSH_POLICY, "never", "never, or failed-tag: a failed step's outputs "
        "go to TAG-failed."),
    Key("timeout", "timeout", DURATION, None, "The longest the pull of the inputs, and each push, may take."),
    Key("input-overwrite", "input_overwrite", BOOLEAN, "false", "Inputs may replace different files in input-path."),
)
KEY = {k.key: k for k in KEYS}
FLAGGED = tuple(k for k in KEYS if k.flag is not None)

IGNORED = {  # accepted for old manifests, with a warning: we download nothing at pod start
    "oras-container": "we ship the agent in our own image",
    "entrypoint": "the wrapper ships in our own image",
    "oras-entrypoint": "the wrapper ships in our own image",
}


def numbered(key: str, index: int) -> str:
    """The key of the ``index``-th value of a PULLED_ARTIFACTS key: the key itself, then KEY_1, KEY_2, …"""
    return key if index == 0 else f"{key}_{index}"


def count_key(input_key: str) -> str:
    """The MATCH_COUNTS key that goes with an input's key: input-uri → input-count, input-uri_2 → input-count_2."""
    return "input-count" + input_key.removeprefix("input-uri")


def counted_input(count: str) -> str:
    """The input key a MATCH_COUNTS key goes with: input-count → input-uri, input-count_2 → input-uri_2."""
    return "input-uri" + count.removeprefix("input-count")
