"""Where an artifact came from: the manifest annotations that say it, the provenance statement
attached to it as a referrer, and the lineage read back from those statements (docs/provenance.md).

Pure: plain data in, plain data out. The sidecar (agent/outputs.py) and `kubectl oras push`
write them; `inspect`, `lineage` and `tags -l` read them back.
"""
