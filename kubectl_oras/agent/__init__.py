"""The in-pod agent: `python -m kubectl_oras.agent pull|push`, run by the injected containers."""

from __future__ import annotations


def error_text(e: Exception) -> str:
    """One line for any failure of the agent: ours say what happened, the rest name their type."""
    from ..errors import OrasError

    if isinstance(e, OrasError):
        return str(e)
    if isinstance(e, OSError):
        return f"{e.filename or ''} {e.strerror or e}".strip()
    return f"unexpected {type(e).__name__}: {e}"
