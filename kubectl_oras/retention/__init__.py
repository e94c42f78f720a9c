"""Tag retention: which tags to delete (choice.py, pure) and deleting them from a registry (registry.py)."""
