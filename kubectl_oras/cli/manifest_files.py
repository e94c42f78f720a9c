"""Manifests a command reads with -f FILE (or - for stdin): the YAML documents in them, or one
line naming the file and what is wrong with it. PyYAML is imported when a file is read."""

from __future__ import annotations

import sys
from typing import Any

from ..errors import OrasError


def read_text(path: str) -> str:
    try:
        if path == "-":
            return sys.stdin.read()
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        raise OrasError(f"{path}: {e.strerror}") from e
    except UnicodeDecodeError as e:
        raise OrasError(f"{path}: not UTF-8 text (byte {e.start})") from None


def read_documents(path: str) -> list[Any]:
    """The file's YAML documents, empty ones left out."""
    import yaml

    text = read_text(path)
    try:
        return [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as e:
        raise OrasError(f"{path}: not valid YAML: {e}") from e
    except RecursionError:
        raise OrasError(f"{path}: nested too deeply to be a Kubernetes manifest") from None
