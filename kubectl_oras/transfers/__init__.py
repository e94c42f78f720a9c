"""The one transfer layer: the target options parsed once (``options.py``), a reference resolved
once into where it lives (``places.py``), and the transfers themselves over an open registry or
cache, shared by the command line and the Python API (``session.py``). docs/architecture.md.
"""
