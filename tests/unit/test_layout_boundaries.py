"""The folders' import rules (docs/architecture.md), read from the source with ast: every import,
including the ones deferred into functions, must stay inside what its folder may use."""

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


# Most specific prefix first. In ``project``, "kubectl_oras" alone is the package root (its
# version) and nothing under it; every other entry covers its modules and everything below.
RULES = (
    Rule("kubectl_oras.errors", project=(), third_party=()),
    Rule("kubectl_oras.durations", project=(), third_party=()),
    Rule("kubectl_oras.oci", project=("kubectl_oras", "kubectl_oras.errors", "kubectl_oras.oci"),
         third_party=("requests", "urllib3", "oras")),
    Rule("kubectl_oras.pods.annotation_schema", project=(), third_party=()),  # plain data: the help reads it
    Rule("kubectl_oras.pods", project=("kubectl_oras.errors", "kubectl_oras.durations", "kubectl_oras.pods",
                                       "kubectl_oras.oci.reference",
                                       "kubectl_oras.oci.errors"), third_party=()),
    Rule("kubectl_oras.kube", project=("kubectl_oras.errors", "kubectl_oras.kube"),
         third_party=("kubernetes_asyncio", "aiohttp", "yaml")),
    Rule("kubectl_oras.agent", project=("kubectl_oras.errors", "kubectl_oras.durations", "kubectl_oras.oci",
                                        "kubectl_oras.pods", "kubectl_oras.agent"), third_party=()),
    Rule("kubectl_oras.retention", project=("kubectl_oras.errors", "kubectl_oras.durations", "kubectl_oras.oci",
                                            "kubectl_oras.retention"), third_party=()),
    Rule("kubectl_oras.targets", project=("kubectl_oras.errors", "kubectl_oras.oci", "kubectl_oras.cluster",
                                          "kubectl_oras.kube.errors"),
         third_party=()),
    Rule("kubectl_oras.api", project=("kubectl_oras.errors", "kubectl_oras.oci", "kubectl_oras.pods",
                                      "kubectl_oras.targets"), third_party=()),
    Rule("kubectl_oras.cluster", project=("kubectl_oras", "kubectl_oras.errors", "kubectl_oras.durations",
                                          "kubectl_oras.pods", "kubectl_oras.kube", "kubectl_oras.cluster"),
         third_party=("yaml",)),
    Rule("kubectl_oras.cli", project=("kubectl_oras", "kubectl_oras.errors", "kubectl_oras.durations",
                                      "kubectl_oras.oci", "kubectl_oras.pods", "kubectl_oras.retention",
                                      "kubectl_oras.kube", "kubectl_oras.cluster", "kubectl_oras.targets",
                                      "kubectl_oras.cli"),
         third_party=("typer", "yaml")),
    Rule("kubectl_oras", project=("kubectl_oras", "kubectl_oras.cli", "kubectl_oras.api", "kubectl_oras.errors"),
         third_party=()),
    Rule("controller.core", project=("kubectl_oras.errors", "kubectl_oras.durations", "kubectl_oras.pods",
                                     "kubectl_oras.retention.choice", "kubectl_oras.retention.text", "controller.core"),
         third_party=("cryptography", "bcrypt")),
    Rule("controller.runtime", project=("kubectl_oras.errors", "kubectl_oras.pods", "kubectl_oras.kube",
                                        "kubectl_oras.oci", "kubectl_oras.retention",
                                        "controller.core", "controller.runtime"),
         third_party=("aiohttp", "prometheus_client")),
    Rule("controller", project=("kubectl_oras.errors", "kubectl_oras.durations", "controller"),
         third_party=()),  # __main__: one-line errors, its seconds flags bounded as every duration is
)


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
        if top in ("kubectl_oras", "controller"):
            allowed = any(name == p if p == "kubectl_oras" else _within(name, p) for p in rule.project)
            if not allowed:
                out.append(f"{module} imports {name}, outside what {rule.prefix} may use")
        elif top not in rule.third_party:
            out.append(f"{module} imports {top}, a library {rule.prefix} may not use")
    return out


def product_modules() -> list[tuple[str, Path]]:
    out = []
    for root in ("kubectl_oras", "controller"):
        for path in sorted((REPO / root).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out.append((".".join(parts), path))
    return out


@pytest.mark.parametrize("module, path", product_modules(), ids=lambda v: v if isinstance(v, str) else "")
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
    ("controller.runtime.cert_store", "from kubernetes_asyncio.client import ApiClient", "kubernetes_asyncio"),
    ("kubectl_oras.cli.direct", "from controller.core import admission", "controller.core"),
    ("kubectl_oras.errors", "from .oci.errors import NotFound", "kubectl_oras.oci.errors"),
    ("kubectl_oras.cluster.caches", "from ..cli.common import fail", "kubectl_oras.cli.common"),
    ("kubectl_oras.cluster.install", "import aiohttp", "aiohttp"),
    ("kubectl_oras.pods.annotate", "from ..kube.api import Kube", "kubectl_oras.kube.api"),
    ("kubectl_oras.pods.annotation_schema", "from .share import SHARE_MOUNT", "kubectl_oras.pods.share"),
])
def test_an_import_across_a_boundary_is_caught(module, source, culprit):
    found = violations(module, imports_of(source, module, is_package=False))
    assert found and any(culprit in v for v in found)


def test_kubernetes_asyncio_is_imported_only_by_the_cluster_access_folder():
    users = {module for module, path in product_modules()
             if any(name.split(".")[0] == "kubernetes_asyncio"
                    for name in imports_of(path.read_text(), module, is_package=path.name == "__init__.py"))}
    assert users and all(_within(m, "kubectl_oras.kube") for m in users)
