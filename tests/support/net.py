"""Loopback ports and waiting for servers to listen (shared with the local cluster)."""

from localcluster.processes import free_port, wait_listening

__all__ = ["free_port", "wait_listening"]
