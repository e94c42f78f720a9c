"""Cluster access: the only folder that imports kubernetes-asyncio (docs/architecture.md)."""
