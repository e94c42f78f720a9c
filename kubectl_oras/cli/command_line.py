"""kubectl's global flags anywhere on the line, and the name the help gives the program (pure).

kubectl takes ``kubectl -n lab get pods`` as ``kubectl get pods -n lab``; click takes only the
options of the group before the command's name. ``global_flags_placed`` moves each global flag
where click reads it, before click sees the line: kubectl's config flags (``--as``, ``--token``,
``-v``...) in front of the command (the program's own options: they apply to every command), the
cluster options every cluster command declares (``-n``, ``--context``, ``--kubeconfig``) after the
command's name, or nowhere for a command that has no such option (kubectl's ``version -n lab``
ignores the namespace too). Nothing after ``--`` moves, nor the value of the command's own
options (``pull REF -o -n``: the directory ``-n``), which click reads as that value whatever it
looks like.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

# kubectl's config flags (its genericclioptions), read by the program before any command:
# flag -> whether it takes a value.
CONFIG_FLAGS: dict[str, bool] = {
    "--as": True, "--as-group": True, "--token": True, "--server": True, "-s": True,
    "--certificate-authority": True, "--insecure-skip-tls-verify": False, "--request-timeout": True,
    "--user": True, "--cluster": True, "-v": True, "--v": True,
}
# The cluster options each cluster command declares itself: placed after the command's name.
COMMAND_FLAGS: dict[str, bool] = {"--namespace": True, "-n": True, "--context": True, "--kubeconfig": True}


Flag = tuple[tuple[str, ...], bool]  # a flag's words on the line, and whether it is a config flag (plain: start-up)


def _flag_at(args: Sequence[str], i: int) -> Flag | None:
    """The known flag starting at ``args[i]`` (with its value: ``--as x``, ``--as=x``, ``-nlab``,
    ``-v6``), or None."""
    word = args[i]
    for table, global_flag in ((CONFIG_FLAGS, True), (COMMAND_FLAGS, False)):
        name, eq, value = word.partition("=")
        if name in table:
            if eq and value and len(name) == 2 and table[name]:  # kubectl's -v=6, -n=lab: click would read "=6"
                return (name + value,), global_flag  # -v6, -nlab
            if eq or not table[name]:
                return (word,), global_flag
            # a flag missing its value stays where it is: the parser says so, naming it
            return ((word, args[i + 1]), global_flag) if i + 1 < len(args) else None
        for short in (f for f in table if len(f) == 2):  # -nlab, -v6: a short flag and its value joined
            if word.startswith(short) and len(word) > 2 and table[short]:
                return (word,), global_flag
    return None


def _flag_words(word: str) -> list[str]:
    """kubectl's way of writing a boolean flag's value, as the parser takes it:
    ``--insecure-skip-tls-verify=true`` is the flag, ``=false`` is nothing."""
    name, eq, value = word.partition("=")
    if eq and name in CONFIG_FLAGS and not CONFIG_FLAGS[name]:
        if value.lower() in ("true", "1", "t", "yes"):
            return [name]
        if value.lower() in ("false", "0", "f", "no"):
            return []
    return [word]  # another value: the parser refuses it, naming the flag


def global_flags_placed(args: Sequence[str], commands: Mapping[str, Mapping[str, bool]]) -> list[str]:
    """``args`` (after the program's name) with kubectl's config flags first and the cluster
    options just after the command's name, wherever the user wrote them.

    ``commands`` gives each command's option names, and whether each takes a value. The command is
    the first word that names one; a cluster option it does not have is left out. Without a
    command (``--help``, a typo), only the config flags move and the parser says what is wrong
    with the rest.
    """
    config: list[str] = []
    command_flags: list[tuple[str, ...]] = []
    rest: list[str] = []
    command: str | None = None
    i = 0
    while i < len(args):
        if args[i] == "--":
            rest += args[i:]
            break
        found = _flag_at(args, i)
        if found is None and CONFIG_FLAGS.get(args[i]) and i + 1 == len(args):
            # a config flag missing its value, last: alone in front, the parser says it needs one
            # (left after the command, it was "No such option: --as", the command's options' word)
            return [*config, args[i]]
        if found is None:
            if command is None and args[i] in commands:
                command = args[i]
            elif command is not None and commands[command].get(args[i]):  # its value follows, as it is
                rest += args[i:i + 2]
                i += 2
                continue
            rest.append(args[i])
            i += 1
            continue
        tokens, global_flag = found
        if global_flag:
            config += _flag_words(tokens[0]) + list(tokens[1:])
        else:
            command_flags.append(tokens)
        i += len(tokens)
    if command is None:
        return [*config, *rest, *(t for tokens in command_flags for t in tokens)]
    at = rest.index(command)
    own = commands[command]
    kept = [t for tokens in command_flags if _name(tokens[0]) in own for t in tokens]
    return [*config, *rest[:at + 1], *kept, *rest[at + 1:]]


def _name(word: str) -> str:
    """The flag a word spells: ``--namespace=lab`` and ``-nlab`` are ``--namespace`` and ``-n``."""
    return word.partition("=")[0] if word.startswith("--") else word[:2]


def program_name(argv0: str, environ: Mapping[str, str]) -> str:
    """``kubectl oras`` when kubectl runs this as its plugin (the executable is ``kubectl-oras``, or
    kubectl says it is the caller), so help reads as the user typed it; ``kubectl-oras`` otherwise."""
    base = argv0.replace("\\", "/").rsplit("/", 1)[-1]
    return "kubectl oras" if base == "kubectl-oras" or environ.get("KUBECTL_PLUGINS_CALLER") else "kubectl-oras"
