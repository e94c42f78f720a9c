"""What a word being completed asks for, and the answer in cobra's format (pure).

kubectl (1.26 and later) completes ``kubectl oras ARGS… WORD`` by running the executable
``kubectl_complete-oras ARGS… WORD`` found on PATH (the words after ``oras``, the one being
completed last, empty when the cursor follows a space) and passing on what it prints, as cobra's
hidden ``__complete`` command prints it: one candidate a line (``value`` or ``value<TAB>help``),
then ``:N``, the directive (bits: 1 error, 2 no space after it, 4 no file names, 8 filter file
extensions, 16 directories only, 32 keep this order). The shell filters the candidates by the
word; we give only those that start with it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

DEFAULT = 0  # the shell may complete file names
ERROR = 1
NO_SPACE = 2
NO_FILES = 4

FORMATS = ("text", "json", "yaml", "name", "jsonpath=")


@dataclass(frozen=True)
class Shape:
    """A command's words: its options (name -> takes a value) and its arguments' names in order."""

    options: Mapping[str, bool] = field(default_factory=dict)
    arguments: tuple[str, ...] = ()
    help: str = ""


@dataclass(frozen=True)
class Wanted:
    """What to complete: ``kind`` (commands, options, a lookup in the cluster: caches, namespaces,
    contexts, repositories, tags; files; formats; nothing), the word so far, the command, and the
    cluster and registry options already on the line."""

    kind: str
    word: str
    command: str | None = None
    given: Mapping[str, str] = field(default_factory=dict)
    repository: str = ""  # for tags: what comes before the ':'
    impersonate_groups: tuple[str, ...] = ()  # every --as-group on the line, in order


# An option's value, by option: what completes it. The others complete nothing.
OPTION_VALUES = {
    "-n": "namespaces", "--namespace": "namespaces", "--context": "contexts", "--cache": "caches",
    "--kubeconfig": "files", "-f": "files", "--filename": "files", "--certificate-authority": "files",
    "-o": "formats", "--output": "formats", "--format": "formats", "--cluster": "clusters", "--user": "users",
}
# An argument's value, by the argument's name in the command's signature.
ARGUMENT_VALUES = {"name": "caches", "repository": "repositories", "reference": "references", "references": "references",
                   "source": "references", "paths": "files"}
NEW_NAMES = ("create-cache",)  # their NAME is a new one: nothing to offer
# Options whose values the lookups need (the cluster and the registry to ask).
REMEMBERED = {"-n": "namespace", "--namespace": "namespace", "--context": "context", "--kubeconfig": "kubeconfig",
              "--cache": "cache", "-r": "registry", "--registry": "registry",
              # kubectl's config flags (kube/config_flags.py's fields)
              "--as": "impersonate", "--token": "token", "--server": "server", "-s": "server",
              "--certificate-authority": "certificate_authority", "--user": "user", "--cluster": "cluster"}
FLAGS_REMEMBERED = {"--plain-http": "plain_http", "--insecure": "insecure",
                    "--insecure-skip-tls-verify": "insecure_skip_tls_verify"}
GROUP = "--as-group"  # given again and again: each value kept, as the command sends each one


def wanted(words: Sequence[str], commands: Mapping[str, Shape], root: Shape) -> Wanted:
    """What the last of ``words`` (the arguments after ``oras``) asks to be completed with."""
    *before, word = words or [""]
    command: str | None = None
    given: dict[str, str] = {}
    groups: list[str] = []
    positional = 0
    pending: str | None = None  # an option waiting for its value
    for w in before:
        if pending is not None:
            if pending == GROUP:
                groups.append(w)
            elif pending in REMEMBERED:
                given[REMEMBERED[pending]] = w
            pending = None
            continue
        if w.startswith("-") and w != "-":
            name, eq, value = w.partition("=")
            if name in FLAGS_REMEMBERED:
                given[FLAGS_REMEMBERED[name]] = "true"
            elif eq and name == GROUP:
                groups.append(value)
            elif eq and name in REMEMBERED:
                given[REMEMBERED[name]] = value
            shape = commands.get(command, root) if command else root
            if not eq and (shape.options.get(name) or root.options.get(name) or name in REMEMBERED or name == GROUP):
                pending = name
            continue
        if command is None and w in commands:
            command = w
        elif command is not None:
            positional += 1
    as_groups = tuple(groups)
    if pending is not None:  # pull's -o is the directory to write into
        kind = "files" if command == "pull" and pending in ("-o", "--output") else OPTION_VALUES.get(pending, "nothing")
        return Wanted(kind, word, command, given, impersonate_groups=as_groups)
    if word.startswith("-"):
        return Wanted("options", word, command, given, impersonate_groups=as_groups)
    if command is None:
        return Wanted("commands", word, None, given, impersonate_groups=as_groups)
    shape = commands[command]
    argument = shape.arguments[min(positional, len(shape.arguments) - 1)] if shape.arguments else ""
    kind = "nothing" if command in NEW_NAMES else ARGUMENT_VALUES.get(argument, "nothing")
    if kind == "references" and ":" in word:
        return Wanted("tags", word, command, given, repository=word.rpartition(":")[0],
                      impersonate_groups=as_groups)
    # references: each repository then ':', its tags at the next TAB
    return Wanted(kind, word, command, given, impersonate_groups=as_groups)


def answer(candidates: Sequence[str], directive: int, word: str = "") -> str:
    """cobra's output: the candidates that start with ``word``, one a line, then ``:directive``."""
    lines = [c for c in candidates if c.split("\t", 1)[0].startswith(word)]
    return "".join(f"{line}\n" for line in lines) + f":{directive}\n"


def offline_candidates(want: Wanted, commands: Mapping[str, Shape], root: Shape) -> tuple[list[str], int] | None:
    """The candidates that need no cluster (commands, options, formats, files), with the
    directive; None when a lookup must answer."""
    if want.kind == "commands":
        return [f"{name}\t{shape.help}" if shape.help else name for name, shape in sorted(commands.items())], NO_FILES
    if want.kind == "options":
        shape = commands.get(want.command or "", Shape())
        return sorted({*shape.options, *root.options} - {"-h"}), NO_FILES
    if want.kind == "formats":
        return list(FORMATS), NO_FILES
    if want.kind == "files":
        return [], DEFAULT
    if want.kind == "nothing":
        return [], NO_FILES
    return None
