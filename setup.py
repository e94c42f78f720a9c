"""The packages, and one mapping a table in pyproject.toml cannot express: the package
``kubectl_oras.manifests`` is the top-level manifests/ folder (the source of truth, which
`kubectl apply -k manifests/` reads), so a wheel carries the manifests `kubectl oras install`
applies (tests/cli/test_packaging.py builds one and looks)."""

from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["kubectl_oras*", "controller*"]), "kubectl_oras.manifests"],
      package_dir={"kubectl_oras.manifests": "manifests"})
