"""scripts/installed.py, which decides whether scripts/setup.sh installs this checkout: a checkout
that is not the installed one is never taken for it because it is the current directory (a clean
clone's tests then ran another checkout's agent and manifests)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECK = ROOT / "scripts" / "installed.py"


def installed(checkout: Path) -> int:
    """setup.sh's own ``installed`` function, run as setup.sh runs it: from the checkout's root."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    function = subprocess.run(["sed", "-n", "/^installed() {/,/^}/p", str(ROOT / "scripts" / "setup.sh")],
                              capture_output=True, text=True, check=True).stdout
    assert function, "scripts/setup.sh has no installed() function"
    return subprocess.run(["bash", "-c", function + "installed"], cwd=checkout, env=env).returncode


def test_a_checkout_that_is_not_installed_is_not_taken_for_the_installed_one(tmp_path):
    other = tmp_path / "other-checkout"
    (other / "kubectl_oras").mkdir(parents=True)
    (other / "kubectl_oras" / "__init__.py").write_text("")
    shutil.copy(ROOT / "pyproject.toml", other / "pyproject.toml")
    (other / "scripts").mkdir()
    shutil.copy(CHECK, other / "scripts" / "installed.py")
    assert installed(other) == 1


def test_the_installed_checkout_is_taken_for_itself():
    where = subprocess.run([sys.executable, "-I", "-c", "import kubectl_oras; print(kubectl_oras.__file__)"],
                           capture_output=True, text=True, check=True).stdout.strip()
    checkout = Path(where).resolve().parent.parent
    assert (checkout / "scripts" / "installed.py").is_file(), checkout
    assert installed(checkout) == 0
