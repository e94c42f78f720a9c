"""kubectl-oras: an OCI-registry-backed artifact cache for Kubernetes workflows.

The package is also the Python API for workflow tools (docs/python-api.md)::

    import kubectl_oras

    job = kubectl_oras.annotate(job, inputs=["metric/hwloc:iter-0"], output="metric/lammps:iter-0",
                                output_path="/tmp/lammps.out")
    kubectl_oras.pull("metric/lammps:iter-0", "data")        # from the cache `oras`, through a port-forward
    kubectl_oras.tags("metric/lammps", registry="localhost:5000", plain_http=True)
    with kubectl_oras.session(namespace="lab") as oras:      # many transfers, one port-forward
        oras.pull("metric/lammps:iter-0", "data")

Importing the package loads nothing but this file and release.py (the version): each name is
loaded when first used, so the `kubectl oras` command line (which imports the package first) starts quickly.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .release import __version__

__all__ = ["OrasError", "__version__", "annotate", "pull", "push", "session", "tags"]

_WHERE = {"OrasError": "kubectl_oras.errors", "annotate": "kubectl_oras.api", "pull": "kubectl_oras.api",
          "push": "kubectl_oras.api", "session": "kubectl_oras.api", "tags": "kubectl_oras.api"}

if TYPE_CHECKING:
    from .api import annotate, pull, push, session, tags
    from .errors import OrasError


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'kubectl_oras' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
