"""A Kubernetes cluster on this machine, made of the real parts (docs/local-cluster.md)."""
