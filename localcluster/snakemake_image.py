"""The job image for Snakemake's Kubernetes executor, built like the project's image
(project_image.py) and on it: integrations/snakemake/Containerfile, with Snakemake at the
versions integrations/snakemake/requirements-ci.txt pins and the plugin, from wheels built on the
host and installed in the image without network. Cached in the same directory, keyed by the
project image and the plugin's sources; rebuilt when either changes.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from .project_image import CACHE, REPO, _run, build_archive, files_key, project_archive

PLUGIN = REPO / "integrations" / "snakemake"
REQUIREMENTS = PLUGIN / "requirements-ci.txt"
IMAGE_NAME = "localhost/kubectl-oras-snakemake:test"


def snakemake_archive() -> Path:
    """The job image as an OCI archive (rebuilt when the project image or the plugin changes)."""
    base = project_archive()
    key = files_key((str(PLUGIN.relative_to(REPO)),), salt=base.name)
    # No network in the build: the image installs only the wheels made here.
    return build_archive(CACHE / f"snakemake-job-{key}.tar", fill=_job_context,
                         base=base, name=IMAGE_NAME, network="none", stale="snakemake-job-*.tar")


def _job_context(context: Path) -> None:
    shutil.copy2(PLUGIN / "Containerfile", context / "Containerfile")
    pip = (sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check")
    _run(*pip, "-w", str(context / "wheels"), "-r", str(REQUIREMENTS))
    shutil.copy2(REQUIREMENTS, context / "wheels" / "requirements-ci.txt")
    source = context / "source"
    shutil.copytree(PLUGIN, source, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build"))
    _run(*pip, "--no-deps", "--no-build-isolation", "-w", str(context / "plugin"), str(source))
