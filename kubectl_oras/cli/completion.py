"""Shell completion: ``kubectl oras completion bash|zsh|fish`` prints a script for the
``kubectl-oras`` command, and ``kubectl_complete-oras`` (a console script; also
``kubectl-oras __complete``) answers kubectl's own completion of ``kubectl oras …`` in cobra's
format (cli/completion_protocol.py). Cache names, namespaces, repositories and tags come from the
cluster or the registry within ``TIME_LIMIT`` seconds, else nothing is offered.
"""

from __future__ import annotations

import os
import sys
import threading
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import typer

from .common import add_command, examples

if TYPE_CHECKING:  # the protocol is imported when completing, not by every start of the program
    from ..kube.api import Kube
    from .completion_protocol import Shape, Wanted

COMPLETER = "kubectl_complete-oras"
TIME_LIMIT = 2.0  # seconds a lookup may take before the shell gets nothing

BASH = r"""# bash completion for kubectl-oras: source <(kubectl oras completion bash)
# (kubectl oras ... itself is completed by kubectl's own completion, through kubectl_complete-oras)
_kubectl_oras() {
    local cur words cword out directive line
    if declare -F _get_comp_words_by_ref >/dev/null; then
        _get_comp_words_by_ref -n =: cur words cword
    else
        cur="${COMP_WORDS[COMP_CWORD]}"; words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD
    fi
    out=$(kubectl_complete-oras "${words[@]:1:cword-1}" "$cur" 2>/dev/null) || return
    [[ ${out##*$'\n'} =~ ^:[0-9]+$ ]] || return 0  # no directive last: not an answer, and never arithmetic
    directive=${out##*:}
    out=${out%:*}
    COMPREPLY=()
    while IFS= read -r line; do
        [[ -n $line ]] && COMPREPLY+=("${line%%$'\t'*}")
    done <<< "$out"
    (( directive & 2 )) && compopt -o nospace
    if (( ${#COMPREPLY[@]} == 0 && (directive & 4) == 0 )); then compopt -o default; fi
    declare -F __ltrim_colon_completions >/dev/null && __ltrim_colon_completions "$cur"
    return 0
}
complete -F _kubectl_oras kubectl-oras
"""

ZSH = r"""#compdef kubectl-oras
# zsh completion for kubectl-oras: source <(kubectl oras completion zsh)
_kubectl_oras() {
    local out directive
    local -a lines values
    # words hold what was typed, quotes and all: (Q) takes the quotes off and runs nothing
    out=$(kubectl_complete-oras "${(@Q)words[2,CURRENT-1]}" "${(Q)words[CURRENT]}" 2>/dev/null) || return
    lines=("${(@f)out}")
    [[ ${lines[-1]} == :<-> ]] || return 0  # no directive last: not an answer, and never arithmetic
    directive=${lines[-1]#:}
    values=("${(@)${(@)lines[1,-2]}%%$'\t'*}")
    if (( ${#values} )); then
        if (( directive & 2 )); then compadd -S '' -- "${values[@]}"; else compadd -- "${values[@]}"; fi
    elif (( ! (directive & 4) )); then
        _files
    fi
}
# sourced: register the function; autoloaded from fpath as _kubectl-oras (the #compdef line), this
# file is the completion function's body: complete at once
if [[ $funcstack[1] == _kubectl-oras ]]; then _kubectl_oras "$@"; else compdef _kubectl_oras kubectl-oras; fi
"""

FISH = r"""# fish completion for kubectl-oras: kubectl oras completion fish | source
# The condition asks kubectl_complete-oras once and keeps its candidates for the -a list; it is false
# when the answer wants file names (no candidates, directive without 4), so fish offers files then.
function __kubectl_oras_prepare
    set -g __kubectl_oras_values
    set -l out (kubectl_complete-oras (commandline -opc)[2..-1] (commandline -ct) 2>/dev/null)
    or return 0
    set -l directive (string replace -r '^:' '' -- $out[-1])
    string match -qr '^[0-9]+$' -- $directive; or return 0
    set -g __kubectl_oras_values $out[1..-2]
    test (count $__kubectl_oras_values) -gt 0; or test (math "floor($directive / 4) % 2") -eq 1
end
complete -c kubectl-oras -n __kubectl_oras_prepare -f -a '$__kubectl_oras_values'
"""


class Shell(str, Enum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"


SCRIPTS = {Shell.bash: BASH, Shell.zsh: ZSH, Shell.fish: FISH}

EPILOG = examples(
    "# kubectl oras ...: kubectl 1.26 and later completes it through kubectl_complete-oras on PATH",
    "source <(kubectl completion bash)",
    "",
    "# the kubectl-oras command itself",
    "source <(kubectl oras completion bash)",
    "kubectl oras completion fish | source",
    note="Completes commands, options, cache names, namespaces, contexts, repositories and tags "
         f"(asked within {TIME_LIMIT:g} s; nothing is offered after that).",
)


def completion(shell: Annotated[Shell, typer.Argument(help="bash, zsh or fish.")]) -> None:
    """Print a shell completion script for kubectl-oras."""
    typer.echo(SCRIPTS[shell], nl=False)


def register(app: typer.Typer) -> None:
    add_command(app, completion, epilog=EPILOG)


def shapes(app: typer.Typer) -> tuple[dict[str, Shape], Shape]:
    """Each command's options and arguments, and the program's own options, read from the app."""
    from .completion_protocol import Shape

    group = typer.main.get_command(app)

    def shape(command: object, help_text: str = "") -> Shape:
        options: dict[str, bool] = {}
        arguments: list[str] = []
        for param in getattr(command, "params", []):
            if param.param_type_name == "argument":
                arguments.append(param.name)
                continue
            for opt in [*param.opts, *param.secondary_opts]:
                options[opt] = not (param.is_flag or param.count)
        return Shape(options, tuple(arguments), help_text)

    commands = {name: shape(command, (command.short_help or "").strip())
                for name, command in getattr(group, "commands", {}).items() if not command.hidden}
    return commands, shape(group)


def lookup(want: Wanted) -> tuple[list[str], int]:
    """The candidates only the cluster or the registry knows (import the stacks here alone)."""
    from ..kube.config_flags import ConfigFlags, use
    from .completion_protocol import NO_FILES, NO_SPACE

    given = want.given
    # kubectl's config flags on the line (--as, --token, …) aim the lookups as they aim the command
    use(ConfigFlags(impersonate=given.get("impersonate"), impersonate_groups=want.impersonate_groups,
                    token=given.get("token"), server=given.get("server"),
                    certificate_authority=given.get("certificate_authority"), user=given.get("user"),
                    cluster=given.get("cluster"), insecure_skip_tls_verify="insecure_skip_tls_verify" in given))
    if want.kind in ("contexts", "users", "clusters"):
        from ..kube.config import read_kubeconfigs
        from ..kube.kubeconfig_files import kubeconfig_files

        merged = read_kubeconfigs(kubeconfig_files(given.get("kubeconfig"), os.environ))
        known = {"contexts": merged.contexts.keys(), "users": merged.users, "clusters": merged.clusters}[want.kind]
        return sorted(known), NO_FILES
    if want.kind in ("caches", "namespaces"):
        import asyncio

        from ..kube.api import NAMESPACES, ORAS_CACHES
        from ..kube.config import connect

        async def listed_names(kube: Kube) -> list[str]:
            listed = await (kube.list(ORAS_CACHES, namespace=kube.namespace) if want.kind == "caches"
                            else kube.list(NAMESPACES))
            return sorted(str(item["metadata"]["name"]) for item in listed.get("items") or [])

        async def ask() -> list[str]:
            async with await connect(kubeconfig=given.get("kubeconfig"), context=given.get("context"),
                                     namespace=given.get("namespace")) as kube:
                return await listed_names(kube)

        return asyncio.run(ask()), NO_FILES
    from ..transfers.options import transfer_options
    from ..transfers.session import Session

    options = transfer_options(registry=given.get("registry"), cache=given.get("cache"),
                               plain_http="plain_http" in given, insecure="insecure" in given,
                               kubeconfig=given.get("kubeconfig"), context=given.get("context"),
                               namespace=given.get("namespace"))
    with Session(options) as transfers:
        if want.kind == "tags":
            where = transfers.locate(want.repository, default_tag=None)
            return [f"{want.repository}:{tag}" for tag in transfers.tags(where)], NO_FILES
        found = transfers.repositories(transfers.place())
    if want.kind == "references":  # a repository, then its tags at the next TAB
        return [f"{repository}:" for repository in found], NO_FILES | NO_SPACE
    return found, NO_FILES


def lookup_within(want: Wanted, limit: float) -> tuple[list[str], int]:
    """``lookup`` given ``limit`` seconds; nothing when it fails or takes longer (a shell waits)."""
    from .completion_protocol import NO_FILES

    found: list[tuple[list[str], int]] = []

    def run() -> None:
        try:
            found.append(lookup(want))
        except Exception:  # noqa: BLE001 - completion offers nothing rather than an error in the prompt
            pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(limit)
    return found[0] if found else ([], NO_FILES)


def complete(words: list[str], limit: float = TIME_LIMIT) -> str:
    """cobra's answer for ``words`` (the arguments after ``oras``, the word being completed last)."""
    from . import app
    from .completion_protocol import answer, offline_candidates, wanted

    commands, root = shapes(app)
    want = wanted(words, commands, root)
    candidates, directive = offline_candidates(want, commands, root) or lookup_within(want, limit)
    return answer(candidates, directive, want.word)


def main(args: list[str] | None = None) -> None:
    """``kubectl_complete-oras ARGS… WORD``, as kubectl runs it (cobra's ``__complete`` first is
    taken too). Exits without waiting for a lookup still running past the limit."""
    words = list(sys.argv[1:] if args is None else args)
    if words[:1] == ["__complete"]:
        words = words[1:]
    sys.stdout.write(complete(words))
    sys.stdout.flush()
    os._exit(0)
