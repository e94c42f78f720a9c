"""One artifact copied from one place to another (``kubectl oras cp``): each side a registry or a
cache by name, each reached through a session of its own (its own options and credentials).

Where the destination tag comes from, and whether both sides are one registry (a blob is then
mounted, not sent), is decided here from what the user wrote; the engine (``oci/copy.py``) moves
the blobs and the manifest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import OrasError
from .places import Located, Place
from .session import Session

if TYPE_CHECKING:
    from ..oci.copy import CopyResult
    from ..oci.progress import Progress


def same_registry(source: Session, src: Place, dest: Session, dst: Place) -> bool:
    """Whether both places are one registry: one host, or one cache (name, namespace, cluster)."""
    if src.registry is not None or dst.registry is not None:
        return src.registry == dst.registry
    one, other = source.options, dest.options
    return (src.cache, one.namespace, one.kubeconfig, one.context) == (dst.cache, other.namespace, other.kubeconfig,
                                                                         other.context)


def destination_of(src: Located, dst: Located) -> Located:
    """``dst`` with the tag it is copied to: its own, else the source's (``cp a:v1 HOST/b`` puts
    ``b:v1``); a source named by digest alone is copied by digest alone."""
    ref = dst.reference
    if ref.digest:
        raise OrasError(f"{dst.text!r}: a copy goes under a tag; give the destination a tag, or none to keep "
                        "the source's")
    if ref.tag or not src.reference.tag:
        return dst
    return Located(dst.place, ref.with_tag(src.reference.tag), dst.text)


def copy(source: Session, src: Located, dest: Session, dst: Located, *, concurrency: int = 4,
         progress: Progress | None = None) -> CopyResult:
    """``src`` (located by ``source``) to ``dst`` (located by ``dest`` with no default tag)."""
    from ..oci.copy import copy_artifact

    dst = destination_of(src, dst)
    mount = same_registry(source, src.place, dest, dst.place)
    if mount and (src.reference.repository, src.reference.tag) == (dst.reference.repository, dst.reference.tag):
        raise OrasError(f"{src.text!r} and {dst.text!r} are one artifact: nothing to copy")
    with source.registry(src.place, push=False, what=f"copy {src.name}") as reading, \
            dest.registry(dst.place, push=True, what=f"copy {src.name} to {dst.name}") as writing:
        return copy_artifact(reading, src.reference, writing, dst.reference, same_registry=mount,
                             concurrency=concurrency, progress=progress)
