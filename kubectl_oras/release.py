"""This release: its version (pyproject.toml and the krew manifest read it here) and its image.

A leaf that imports nothing, so the engine (its User-Agent), the install and localcluster name
the release without importing the package root, which sits above them (it exports the Python API).
"""

__version__ = "0.2.0"
# This release's image: the controller, the webhook and the agents in pods run from it
# (Containerfile): what `kubectl oras install` and `inject` give them unless told otherwise.
RELEASE_IMAGE = f"kubectl-oras:{__version__}"
