"""Directory archives in memory that does not grow with the number of files, and the same bytes as
before: every digest an unchanged directory had, it keeps (the registry skips the upload, and
the Go oras CLI checks io.deis.oras.content.digest)."""

from __future__ import annotations

import gc
import io
import os
import tracemalloc
from pathlib import Path

from kubectl_oras.oci import archive
from kubectl_oras.oci.archive import pack_directory, unpack_directory
from tests.support.trees import deep_bottom, make_deep_tree, remove_deep_tree

# What pack_directory gave for varied_tree() before it streamed (the whole tree listed, every
# member kept): the layer's digest and the tar's (io.deis.oras.content.digest).
DIGEST_BEFORE = "sha256:421bc7139edd1bc2ad1a6303f26e05ac7143aae0ba1bca11a7032a8892b453dc"
TAR_DIGEST_BEFORE = "sha256:da520a3fffca27d191086f12ff6de9bd60280fd86d6868cbd43349b8775b06cd"


def varied_tree(root: Path) -> Path:
    """Every kind of entry and name the packer orders or encodes differently, with fixed modes
    (whatever the umask) so the digest is the same on any machine."""
    files = {
        "a.txt": b"a\n", "a-b": b"", "a.b": b"x" * 511, "a0": b"y" * 512, "B": b"z" * 513, "_": b"\x00\xff" * 3000,
        "big.bin": bytes(range(256)) * (4096 + 3),  # past one 1 MiB copy block
        "sub/one": b"1", "sub/two/three": b"3", "sub/two/zz": b"", "sub-x/f": b"f",
        "n" * 100: b"a name of 100 characters", "long/" + "m" * 150: b"past the 100 bytes a ustar name holds",
        "caf\u00e9/\u00fcber.txt": b"non-ASCII names go into PAX headers",
        "odd name with spaces\tand tab": b"t", "/".join(["deep"] * 40) + "/leaf": b"deep",
    }
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / "empty").mkdir()
    (root / "sub" / "link-to-one").symlink_to("one")
    (root / "sub" / "two" / "up").symlink_to("../one")
    (root / "dir-link").symlink_to("sub/two")
    for i in range(25):  # one directory with more names than a sort run in the spilling test
        (root / "many" / f"{(i * 7) % 25:02d}").parent.mkdir(exist_ok=True)
        (root / "many" / f"{(i * 7) % 25:02d}").write_text(str(i))
    for path in sorted(root.rglob("*"), reverse=True):
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() else (0o600 if path.suffix == ".txt" else 0o644))
    (root / "a0").chmod(0o751)
    root.chmod(0o750)
    return root


def _pack(src: Path, name: str = "results") -> tuple[archive.PackedDirectory, bytes]:
    buf = io.BytesIO()
    return pack_directory(str(src), buf, name=name), buf.getvalue()


def test_the_streaming_packer_writes_the_bytes_the_listing_packer_wrote(tmp_path):
    packed, _ = _pack(varied_tree(tmp_path / "results"))
    assert (packed.digest, packed.tar_digest) == (DIGEST_BEFORE, TAR_DIGEST_BEFORE)


def test_names_sorted_in_runs_on_disk_give_the_same_bytes(tmp_path, monkeypatch):
    monkeypatch.setattr(archive, "SORT_RUN", 3)  # every directory of more than 3 names is sorted in runs
    monkeypatch.setattr(archive, "MERGE_WIDTH", 2)  # and its runs merged on disk as they pile up
    packed, _ = _pack(varied_tree(tmp_path / "results"))
    assert (packed.digest, packed.tar_digest) == (DIGEST_BEFORE, TAR_DIGEST_BEFORE)


def test_a_tree_deeper_than_the_recursion_limit_packs_and_unpacks(tmp_path):
    staging = tmp_path / "staging"
    staging.mkdir()
    try:
        packed, data = _pack(make_deep_tree(tmp_path / "deep"), name="deep")  # RecursionError before
        top = unpack_directory(io.BytesIO(data), str(staging), name="deep", expected_tar_digest=packed.tar_digest)
        assert deep_bottom(top) == "the bottom\n"
    finally:
        remove_deep_tree(tmp_path / "deep", staging)


def _peak_packing(src: Path) -> int:
    gc.collect()
    with open(os.devnull, "wb") as sink:  # the archive itself is not memory the packer holds
        tracemalloc.start()
        try:
            pack_directory(str(src), sink, name="many")
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()


def _empty_files(root: Path, count: int) -> Path:
    root.mkdir()
    for i in range(count):
        os.close(os.open(root / f"file-{i:07d}", os.O_WRONLY | os.O_CREAT, 0o644))
    return root


def test_memory_while_packing_does_not_grow_with_the_number_of_files(tmp_path, monkeypatch):
    # Small runs, so that both directories are sorted in many runs and merge them on disk, as a
    # directory of a million files does with the real sizes (10,000 names a run, 16 runs merged).
    monkeypatch.setattr(archive, "SORT_RUN", 50)
    monkeypatch.setattr(archive, "MERGE_WIDTH", 4)
    small = _peak_packing(_empty_files(tmp_path / "1k", 1_000))
    large = _peak_packing(_empty_files(tmp_path / "10k", 10_000))
    # Listing and keeping every member grew ~0.45 KB a file: 10x the files was ~8x the peak.
    assert large < 1.5 * small, (small, large)
