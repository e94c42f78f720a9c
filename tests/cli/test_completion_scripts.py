"""`kubectl oras completion bash|zsh|fish`: the scripts complete the kubectl-oras command through
kubectl_complete-oras, run by a real bash (the test machines have no zsh or fish)."""

from __future__ import annotations

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


def bash_completes(bin_dir: Path, line: str) -> list[str]:
    """COMPREPLY for ``line`` (the cursor at its end), as bash's programmable completion fills it."""
    words = line.split(" ")
    program = (f"{script('bash')}\nCOMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}\n"
               "_kubectl_oras; printf '%s\\n' \"${COMPREPLY[@]}\"\n")
    done = subprocess.run(["bash", "--norc", "-c", program], capture_output=True, text=True, timeout=60,
                          env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(bin_dir)})
    assert done.returncode == 0, done.stderr
    return [w for w in done.stdout.splitlines() if w]


def test_bash_completes_commands_options_and_formats(bin_dir):
    assert bash_completes(bin_dir, "kubectl-oras sta") == ["status"]
    assert bash_completes(bin_dir, "kubectl-oras status --all") == ["--all-namespaces"]
    assert bash_completes(bin_dir, "kubectl-oras tags r -o js") == ["json", "jsonpath="]
