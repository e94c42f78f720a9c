"""kubectl-oras: an OCI-registry-backed artifact cache for Kubernetes workflows."""

__version__ = "0.2.0"
