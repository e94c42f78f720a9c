"""`kubectl oras completion bash|zsh|fish`: the scripts complete the kubectl-oras command through
kubectl_complete-oras, each run by the real shell (scripts/setup.sh --tests installs zsh and fish;
a shell missing fails these tests).

bash and zsh complete only inside a line editor, so each script's function is called as the
completion system calls it, with the words and the cursor's index set: bash's ``COMP_WORDS`` and
``COMP_CWORD``, zsh's ``words`` and ``CURRENT`` (after ``compinit``, which the script registers
with through ``compdef``; ``compadd`` and ``_files`` captured: outside a completion widget the
builtin refuses to run). fish completes a line given as text: ``complete --do-complete``.
"""

from __future__ import annotations

import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def bin_dir(tmp_path) -> Path:
    """kubectl_complete-oras as pip's console script is, from this tree."""
    script = tmp_path / "kubectl_complete-oras"
    script.write_text(f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(REPO)!r})\n"
                      "from kubectl_oras.cli.completion import main\nmain()\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return tmp_path


def script(shell: str) -> str:
    done = subprocess.run([sys.executable, "-m", "kubectl_oras", "completion", shell], cwd=REPO, capture_output=True,
                          text=True, timeout=60, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    return done.stdout


def run_shell(argv: list[str], bin_dir: Path, cwd: Path | None = None) -> list[str]:
    """The lines ``argv`` (a shell, argv[0], running a program) prints, with kubectl_complete-oras on PATH."""
    assert shutil.which(argv[0]), f"no {argv[0]} on PATH (scripts/setup.sh --tests installs zsh and fish with apt)"
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=cwd,
                          env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(bin_dir)})
    assert done.returncode == 0, done.stderr
    return [w for w in done.stdout.splitlines() if w]


def bash_completes(bin_dir: Path, line: str) -> list[str]:
    """COMPREPLY for ``line`` (the cursor at its end), as bash's programmable completion fills it."""
    words = line.split(" ")
    program = (f"{script('bash')}\nCOMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}\n"
               "_kubectl_oras; printf '%s\\n' \"${COMPREPLY[@]}\"\n")
    return run_shell(["bash", "--norc", "-c", program], bin_dir)


def test_bash_completes_commands_options_and_formats(bin_dir):
    assert bash_completes(bin_dir, "kubectl-oras sta") == ["status"]
    assert bash_completes(bin_dir, "kubectl-oras status --all") == ["--all-namespaces"]
    assert bash_completes(bin_dir, "kubectl-oras tags r -o js") == ["json", "jsonpath="]


# compadd's candidates one a line (its options dropped), and the file names _files would offer as one mark
ZSH_CAPTURE = r"""
compadd() { while (( $# )) && [[ $1 != -- ]]; do shift; done; shift; print -rl -- "$@"; }
_files() { print -r -- '(files)'; }
"""


def zsh_completes(bin_dir: Path, line: str, *, from_fpath: bool = False) -> list[str]:
    """What the function compinit registered for kubectl-oras adds for ``line`` (the cursor at its
    end): the script sourced, or (``from_fpath``) installed as the file _kubectl-oras in $fpath."""
    if from_fpath:
        functions = bin_dir / "zsh-functions"
        functions.mkdir(exist_ok=True)
        (functions / "_kubectl-oras").write_text(script("zsh"))
        load = f"fpath=({shlex.quote(str(functions))} $fpath); autoload -U compinit; compinit -u -D\n"
    else:
        sourced = bin_dir / "kubectl-oras.zsh"
        sourced.write_text(script("zsh"))
        load = f"autoload -U compinit; compinit -u -D; source {shlex.quote(str(sourced))}\n"
    words = line.split(" ")
    program = (f"{load}{ZSH_CAPTURE}"
               "(( $+_comps[kubectl-oras] )) || { print -u2 'nothing completes kubectl-oras'; exit 3; }\n"
               f"words=({' '.join(shlex.quote(w) for w in words)}); CURRENT={len(words)}\n"
               '"$_comps[kubectl-oras]"\n')
    return run_shell(["zsh", "-f", "-c", program], bin_dir)


def fish_completes(bin_dir: Path, line: str, cwd: Path | None = None) -> list[str]:
    """fish's completions of ``line`` (the cursor at its end), descriptions cut off."""
    sourced = bin_dir / "kubectl-oras.fish"
    sourced.write_text(script("fish"))
    found = run_shell(["fish", "--no-config", "-c", "source $argv[1]; complete --do-complete $argv[2]",
                               str(sourced), line], bin_dir, cwd)
    return [w.split("\t")[0] for w in found]


@pytest.fixture
def files(tmp_path) -> Path:
    """A directory with files, where push's paths are completed."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "data.txt").write_text("x")
    (work / "notes.md").write_text("x")
    return work


def test_zsh_completes_commands_options_and_formats(bin_dir):
    assert zsh_completes(bin_dir, "kubectl-oras sta") == ["status"]
    assert zsh_completes(bin_dir, "kubectl-oras status --all") == ["--all-namespaces"]
    assert zsh_completes(bin_dir, "kubectl-oras tags r -o js") == ["json", "jsonpath="]
    assert zsh_completes(bin_dir, "kubectl-oras push r da") == ["(files)"]  # a path: zsh's own file names
    assert zsh_completes(bin_dir, "kubectl-oras status -n ") == []  # no cluster: nothing, not file names


def test_zsh_hands_the_words_over_unquoted(bin_dir):
    """zsh's ``words`` hold each word as typed, quotes and all (a real zle hands `"tags"` so); the
    completer gets them unquoted, as fish's ``commandline -o`` gives them, and nothing in them is run."""
    assert zsh_completes(bin_dir, 'kubectl-oras "tags" r -o js') == ["json", "jsonpath="]
    assert zsh_completes(bin_dir, "kubectl-oras 'tags' r -o 'js'") == ["json", "jsonpath="]
    assert zsh_completes(bin_dir, f"kubectl-oras tags \"$(touch{'${IFS}'}{bin_dir / 'ran'})\" -o js") == ["json", "jsonpath="]
    assert not (bin_dir / "ran").exists()


def test_zsh_completes_from_its_fpath_file_as_the_compdef_line_says(bin_dir):
    assert zsh_completes(bin_dir, "kubectl-oras sta", from_fpath=True) == ["status"]
    assert zsh_completes(bin_dir, "kubectl-oras tags r -o js", from_fpath=True) == ["json", "jsonpath="]


def test_fish_completes_commands_options_and_formats(bin_dir, files):
    assert fish_completes(bin_dir, "kubectl-oras sta") == ["status"]
    assert fish_completes(bin_dir, "kubectl-oras status --all") == ["--all-namespaces"]
    assert fish_completes(bin_dir, "kubectl-oras tags r -o js") == ["json", "jsonpath="]
    assert fish_completes(bin_dir, "kubectl-oras push r da", cwd=files) == ["data.txt"]  # a path: file names
    assert fish_completes(bin_dir, "kubectl-oras status -n ", cwd=files) == []  # no cluster: nothing, not files



def fake_completer(bin_dir: Path, lines: list[str]) -> Path:
    """``bin_dir`` with a kubectl_complete-oras that prints ``lines`` whatever it is asked."""
    bin_dir.mkdir()
    script = bin_dir / "kubectl_complete-oras"
    script.write_text(f"#!/bin/sh\nprintf '%s\\n' {' '.join(shlex.quote(line) for line in lines)}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return bin_dir


def test_an_answer_without_a_directive_completes_nothing_and_runs_nothing(tmp_path):
    """Another program of that name, or a broken install: lines, but no directive last; the last
    one is arithmetic that would run a command."""
    garbage = fake_completer(tmp_path / "garbage", ["status", f"a[$(touch {tmp_path / 'ran'})]"])
    assert bash_completes(garbage, "kubectl-oras sta") == []
    assert zsh_completes(garbage, "kubectl-oras sta") == []
    assert fish_completes(garbage, "kubectl-oras sta") == []
    assert not (tmp_path / "ran").exists()


def test_a_candidate_is_offered_as_written_never_run(tmp_path):
    ran = tmp_path / "ran"
    candidates = ["a b", "'q'", '"d"', f"$(touch {ran})", f"`touch {ran}`", f";touch {ran}"]
    hostile = fake_completer(tmp_path / "hostile", [*candidates, ":4"])
    assert bash_completes(hostile, "kubectl-oras ") == candidates
    assert zsh_completes(hostile, "kubectl-oras ") == candidates
    assert sorted(fish_completes(hostile, "kubectl-oras ")) == sorted(candidates)
    assert not ran.exists()
