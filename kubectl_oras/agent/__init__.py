"""The in-pod agent: `python -m kubectl_oras.agent pull|push`, run by the injected containers."""
