"""The folders' import rules (docs/architecture.md), read from the source with ast: every import in
kubectl_oras/, controller/ and localcluster/, including the ones deferred into functions, must stay
inside what its folder may use."""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STDLIB = frozenset(sys.stdlib_module_names) | {"__future__"}


@dataclass(frozen=True)
class Rule:
    """What modules under ``prefix`` may import: project modules by prefix, third-party by top name."""

    prefix: str
    project: tuple[str, ...]
    third_party: tuple[str, ...]


# Leaf modules that import nothing of the project and that every folder may import.
EVERY_FOLDER = ("kubectl_oras.times", "kubectl_oras.fields")

# Most specific prefix first. In ``project``, "kubectl_oras" alone is the package root (the
# Python API's lazy exports) and nothing under it; every other entry covers its modules and
# everything below. The release's version and image are ``kubectl_oras.release``, a leaf, so
# nothing below the root has to import the root for them.
RULES = (
    Rule("kubectl_oras.errors", project=(), third_party=()),
    Rule("kubectl_oras.release", project=(), third_party=()),
    Rule("kubectl_oras.durations", project=(), third_party=()),
    Rule("kubectl_oras.backoff", project=(), third_party=()),
    Rule("kubectl_oras.tasks", project=(), third_party=()),
    Rule("kubectl_oras.times", project=(), third_party=()),
    Rule("kubectl_oras.fields", project=(), third_party=()),
    Rule("kubectl_oras.orascache", project=("kubectl_oras.errors",), third_party=()),
    Rule("kubectl_oras.oci", project=("kubectl_oras.release", "kubectl_oras.errors", "kubectl_oras.backoff",
                                      "kubectl_oras.orascache", "kubectl_oras.oci"),
         third_party=("requests", "urllib3", "oras")),
    # plain data: the help reads it
    Rule("kubectl_oras.pods.annotation_schema", project=("kubectl_oras.orascache",), third_party=()),
    Rule("kubectl_oras.pods", project=("kubectl_oras.errors", "kubectl_oras.durations", "kubectl_oras.orascache",
                                       "kubectl_oras.pods",
                                       "kubectl_oras.oci.reference",
                                       "kubectl_oras.oci.errors"), third_party=()),
    Rule("kubectl_oras.kube", project=("kubectl_oras.errors", "kubectl_oras.backoff", "kubectl_oras.tasks",
                                       "kubectl_oras.orascache", "kubectl_oras.kube"),
         third_party=("kubernetes_asyncio", "aiohttp", "yaml")),
    # pure: a producer's record, its manifest annotations and its statement
    Rule("kubectl_oras.provenance", project=("kubectl_oras.errors", "kubectl_oras.release", "kubectl_oras.pods.step",
                                             "kubectl_oras.provenance"), third_party=()),
    Rule("kubectl_oras.agent", project=("kubectl_oras.errors", "kubectl_oras.durations", "kubectl_oras.backoff",
                                        "kubectl_oras.oci", "kubectl_oras.pods", "kubectl_oras.provenance",
                                        "kubectl_oras.agent"), third_party=()),
    Rule("kubectl_oras.retention", project=("kubectl_oras.errors", "kubectl_oras.durations", "kubectl_oras.oci",
                                            "kubectl_oras.retention"), third_party=()),
    Rule("kubectl_oras.transfers", project=("kubectl_oras.errors", "kubectl_oras.durations", "kubectl_oras.orascache",
                                            "kubectl_oras.oci", "kubectl_oras.cluster.registry", "kubectl_oras.kube.errors",
                                            "kubectl_oras.pods.patterns", "kubectl_oras.provenance", "kubectl_oras.transfers"),
         third_party=()),
    Rule("kubectl_oras.api", project=("kubectl_oras.errors", "kubectl_oras.oci", "kubectl_oras.pods",
                                      "kubectl_oras.transfers"), third_party=()),
    Rule("kubectl_oras.cluster", project=("kubectl_oras.release", "kubectl_oras.errors", "kubectl_oras.durations",
                                          "kubectl_oras.orascache", "kubectl_oras.pods", "kubectl_oras.kube",
                                          "kubectl_oras.cluster"),
         third_party=("yaml",)),
    Rule("kubectl_oras.cli", project=("kubectl_oras.release", "kubectl_oras.errors", "kubectl_oras.durations",
                                      "kubectl_oras.orascache", "kubectl_oras.oci", "kubectl_oras.pods", "kubectl_oras.retention",
                                      "kubectl_oras.kube", "kubectl_oras.cluster", "kubectl_oras.transfers",
                                      "kubectl_oras.provenance", "kubectl_oras.cli"),
         third_party=("typer", "yaml")),
    Rule("kubectl_oras", project=("kubectl_oras", "kubectl_oras.release", "kubectl_oras.cli", "kubectl_oras.api",
                                  "kubectl_oras.errors"),
         third_party=()),
    Rule("controller.core", project=("kubectl_oras.errors", "kubectl_oras.durations", "kubectl_oras.orascache",
                                     "kubectl_oras.pods",
                                     "kubectl_oras.retention.choice", "kubectl_oras.retention.text", "controller.core"),
         third_party=("cryptography", "bcrypt")),
    Rule("controller.runtime", project=("kubectl_oras.errors", "kubectl_oras.backoff", "kubectl_oras.tasks",
                                        "kubectl_oras.orascache", "kubectl_oras.pods", "kubectl_oras.kube",
                                        "kubectl_oras.oci", "kubectl_oras.retention",
                                        "controller.core", "controller.runtime"),
         third_party=("aiohttp", "prometheus_client")),
    Rule("controller", project=("kubectl_oras.errors", "kubectl_oras.durations", "controller"),
         third_party=()),  # __main__: one-line errors, its seconds flags bounded as every duration is
    # Not part of the package: the webhook's certificate code, and the release's version (the
    # project image is loaded under the name `kubectl oras install` gives it, kubectl-oras:VERSION).
    Rule("localcluster", project=("kubectl_oras.release", "controller.core.certificates", "localcluster"),
         third_party=("requests", "yaml", "cryptography")),
    # A distribution of its own (integrations/snakemake/): the Python API, and of the engine only
    # the description it reads, its errors and the manifest's annotation names; the cache's host
    # and where kubectl looks for a kubeconfig (in a pod, it reaches the cache directly).
    Rule("snakemake_storage_plugin_oras", project=("kubectl_oras", "kubectl_oras.oci.describe", "kubectl_oras.oci.errors",
                                                   "kubectl_oras.oci.manifest", "kubectl_oras.orascache",
                                                   "kubectl_oras.kube.kubeconfig_files", "snakemake_storage_plugin_oras"),
         third_party=("snakemake_interface_common", "snakemake_interface_storage_plugins")),
)
# Each top-level package of the project, and the folder it is in.
FOLDERS = {"kubectl_oras": REPO / "kubectl_oras", "controller": REPO / "controller", "localcluster": REPO / "localcluster",
           "snakemake_storage_plugin_oras": REPO / "integrations" / "snakemake" / "snakemake_storage_plugin_oras"}
PROJECT = tuple(FOLDERS)


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def rule_for(module: str) -> Rule:
    return next(rule for rule in RULES if _within(module, rule.prefix))


def imports_of(source: str, module: str, *, is_package: bool) -> list[str]:
    """Absolute names of every module ``source`` imports (relative imports resolved)."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # `from pkg import sub` may name a submodule: count `pkg.sub` when it is one of ours.
            found.append(target)
            found += [f"{target}.{alias.name}" for alias in node.names if (REPO / target.replace(".", "/") / alias.name).exists()
                      or (REPO / target.replace(".", "/") / f"{alias.name}.py").exists()]
    return found


def violations(module: str, imported: list[str]) -> list[str]:
    rule = rule_for(module)
    out = []
    for name in imported:
        top = name.split(".")[0]
        if top in STDLIB:
            continue
        if top in PROJECT:
            allowed = any(name == p if p == "kubectl_oras" else _within(name, p) for p in rule.project) \
                or (rule.project != () and any(_within(name, leaf) for leaf in EVERY_FOLDER))
            if not allowed:
                out.append(f"{module} imports {name}, outside what {rule.prefix} may use")
        elif top not in rule.third_party:
            out.append(f"{module} imports {top}, a library {rule.prefix} may not use")
    return out


def project_modules() -> list[tuple[str, Path]]:
    out = []
    for root, folder in FOLDERS.items():
        for path in sorted(folder.rglob("*.py")):
            parts = [root, *path.relative_to(folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            out.append((".".join(parts), path))
    return out


@pytest.mark.parametrize("module, path", project_modules(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_module_imports_only_what_its_folder_may(module, path):
    imported = imports_of(path.read_text(), module, is_package=path.name == "__init__.py")
    assert violations(module, imported) == []


@pytest.mark.parametrize("module, source, culprit", [
    ("kubectl_oras.oci.push", "from ..kube.api import Kube", "kubectl_oras.kube.api"),
    ("kubectl_oras.oci.pull", "import typer", "typer"),
    ("kubectl_oras.oci.client", "def f():\n    from kubernetes_asyncio import client", "kubernetes_asyncio"),
    ("kubectl_oras.pods.injection", "from ..oci.client import RegistryClient", "kubectl_oras.oci.client"),
    ("kubectl_oras.pods.step", "import requests", "requests"),
    ("kubectl_oras.agent.inputs", "from ..cli.common import fail", "kubectl_oras.cli.common"),
    ("controller.core.admission", "from kubectl_oras.kube.owners import read_owner_annotations", "kubectl_oras.kube"),
    ("controller.core.admission", "import aiohttp", "aiohttp"),
    ("controller.core.admission", "from prometheus_client import Counter", "prometheus_client"),
    ("controller.core.workload_review", "from kubectl_oras.kube.api import Kube", "kubectl_oras.kube"),
    ("controller.runtime.cert_store", "from kubernetes_asyncio.client import ApiClient", "kubernetes_asyncio"),
    ("kubectl_oras.cli.direct", "from controller.core import admission", "controller.core"),
    ("kubectl_oras.errors", "from .oci.errors import NotFound", "kubectl_oras.oci.errors"),
    ("kubectl_oras.backoff", "from .errors import OrasError", "kubectl_oras.errors"),
    ("kubectl_oras.backoff", "import requests", "requests"),
    ("kubectl_oras.pods.step", "from ..backoff import Backoff", "kubectl_oras.backoff"),
    ("kubectl_oras.tasks", "from .kube.errors import KubeError", "kubectl_oras.kube.errors"),
    ("kubectl_oras.tasks", "import aiohttp", "aiohttp"),
    ("kubectl_oras.oci.parallel", "from ..tasks import cancel_and_wait", "kubectl_oras.tasks"),
    ("kubectl_oras.cluster.caches", "from ..cli.common import fail", "kubectl_oras.cli.common"),
    ("kubectl_oras.cluster.install", "import aiohttp", "aiohttp"),
    ("kubectl_oras.pods.annotate", "from ..kube.api import Kube", "kubectl_oras.kube.api"),
    ("kubectl_oras.orascache", "from .pods.caches import CacheView", "kubectl_oras.pods.caches"),
    ("kubectl_oras.orascache", "from . import __version__", "kubectl_oras"),
    ("kubectl_oras.orascache", "import yaml", "yaml"),
    ("kubectl_oras.times", "from .errors import OrasError", "kubectl_oras.errors"),
    ("kubectl_oras.errors", "from .times import parse_rfc3339", "kubectl_oras.times"),
    ("kubectl_oras.fields", "from .errors import OrasError", "kubectl_oras.errors"),
    ("kubectl_oras.times", "from .fields import shown", "kubectl_oras.fields"),
    ("localcluster.__main__", "from kubectl_oras.cluster.install import DEFAULT_IMAGE", "kubectl_oras.cluster.install"),
    ("localcluster.pki", "from controller.core.admission import review_pod", "controller.core.admission"),
    ("localcluster.node", "import aiohttp", "aiohttp"),
    ("kubectl_oras.cluster.install", "from localcluster.project_image import IMAGE_NAME", "localcluster"),
    ("controller.runtime.cert_store", "from localcluster import pki", "localcluster"),
    ("kubectl_oras.transfers.session", "from ..cli.common import alarm", "kubectl_oras.cli.common"),
    ("kubectl_oras.transfers.session", "def f():\n    from ..cluster.caches import find_cache", "kubectl_oras.cluster.caches"),
    ("kubectl_oras.transfers.pulls", "from ..pods.injection import inject", "kubectl_oras.pods.injection"),
    ("kubectl_oras.pods.annotation_schema", "from .share import SHARE_MOUNT", "kubectl_oras.pods.share"),
    ("kubectl_oras.oci.client", "from .. import __version__", "kubectl_oras"),
    ("kubectl_oras.cluster.install", "from .. import RELEASE_IMAGE", "kubectl_oras"),
    ("localcluster.__main__", "from kubectl_oras import __version__", "kubectl_oras"),
    ("kubectl_oras.release", "from .errors import OrasError", "kubectl_oras.errors"),
    ("snakemake_storage_plugin_oras", "from kubectl_oras.transfers.session import Session", "kubectl_oras.transfers"),
    ("snakemake_storage_plugin_oras.mapping", "import requests", "requests"),
    ("kubectl_oras.api", "from snakemake_storage_plugin_oras import StorageProvider", "snakemake_storage_plugin_oras"),
    ("kubectl_oras.provenance.statement", "from ..oci.client import RegistryClient", "kubectl_oras.oci.client"),
    ("kubectl_oras.provenance.record", "from ..pods.injection import mutate_pod", "kubectl_oras.pods.injection"),
])
def test_an_import_across_a_boundary_is_caught(module, source, culprit):
    found = violations(module, imports_of(source, module, is_package=False))
    assert found and any(culprit in v for v in found)


@pytest.mark.parametrize("module", ["kubectl_oras.oci.manifest", "kubectl_oras.pods.pod_state", "kubectl_oras.kube.lease",
                                    "kubectl_oras.cli.gc", "controller.core.cache_retention", "controller.runtime.events",
                                    "controller.__main__"])
def test_every_folder_may_import_the_leaf_modules(module):
    for leaf in EVERY_FOLDER:
        assert violations(module, imports_of(f"import {leaf}", module, is_package=False)) == []


def test_kubernetes_asyncio_is_imported_only_by_the_cluster_access_folder():
    users = {module for module, path in project_modules()
             if any(name.split(".")[0] == "kubernetes_asyncio"
                    for name in imports_of(path.read_text(), module, is_package=path.name == "__init__.py"))}
    assert users and all(_within(m, "kubectl_oras.kube") for m in users)
