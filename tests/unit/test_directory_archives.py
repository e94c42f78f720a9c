import io
import os
import tarfile

import pytest

from kubectl_oras.oci.archive import pack_directory, unpack_directory
from kubectl_oras.oci.errors import DigestMismatch, LocalPathError, UnsafePath
from tests.support.archives import tar_gz
from tests.support.trees import make_tree, snapshot


def _pack(src, name="results"):
    buf = io.BytesIO()
    packed = pack_directory(str(src), buf, name=name)
    return packed, buf.getvalue()


def test_an_unchanged_directory_packs_to_the_same_digest(tmp_path):
    src = make_tree(tmp_path / "results")
    first, _ = _pack(src)
    for path in src.rglob("*"):
        if not path.is_symlink():
            os.utime(path, (12345, 12345))
    second, _ = _pack(src)
    assert first == second


def test_a_changed_file_changes_the_digest(tmp_path):
    src = make_tree(tmp_path / "results")
    first, _ = _pack(src)
    (src / "metrics.json").write_text("{}")
    assert _pack(src)[0].digest != first.digest


def test_members_carry_the_title_prefix_fixed_times_and_no_owner(tmp_path):
    _, data = _pack(make_tree(tmp_path / "results"))
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        members = tar.getmembers()
    assert members[0].name == "results" and members[0].isdir()
    assert all(m.name == "results" or m.name.startswith("results/") for m in members)
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, 0, "", "")}


def test_the_tar_ends_at_its_end_marker_so_go_oras_digest_checks_pass(tmp_path):
    import gzip
    import hashlib

    packed, data = _pack(make_tree(tmp_path / "results"))
    raw = gzip.decompress(data)
    assert raw.endswith(b"\0" * 1024)
    assert packed.tar_digest == "sha256:" + hashlib.sha256(raw).hexdigest()


def test_round_trip_restores_files_links_modes_and_empty_dirs(tmp_path):
    src = make_tree(tmp_path / "results")
    packed, data = _pack(src)
    staging = tmp_path / "staging"
    staging.mkdir()
    top = unpack_directory(io.BytesIO(data), str(staging), name="results", expected_tar_digest=packed.tar_digest)
    assert snapshot(src) == snapshot(top)


def test_a_wrong_content_digest_annotation_is_refused(tmp_path):
    _, data = _pack(make_tree(tmp_path / "results"))
    staging = tmp_path / "staging"
    staging.mkdir()
    with pytest.raises(DigestMismatch, match="results"):
        unpack_directory(io.BytesIO(data), str(staging), name="results", expected_tar_digest="sha256:" + "0" * 64)


def _evil_archive(*members):
    return io.BytesIO(tar_gz(*members))


@pytest.mark.parametrize(
    "members, message",
    [
        ([("dir", "d", None), ("file", "d/../../escape.txt", b"x")], "'..'"),
        ([("file", "/tmp/abs-escape.txt", b"x")], "absolute"),
        ([("file", "other/x.txt", b"x")], "outside directory 'd'"),
        ([("dir", "d", None), ("sym", "d/link", "../../../etc")], "points outside"),
        ([("dir", "d", None), ("sym", "d/link", "/etc/passwd")], "points outside"),
        ([("dir", "d", None), ("hard", "d/hl", "/etc/passwd")], "absolute"),
        ([("dir", "d", None), ("hard", "d/hl", "other/file")], "outside"),
        ([("dir", "d", None), ("fifo", "d/pipe", None)], "device or fifo"),
    ],
)
def test_archives_that_escape_are_refused_and_write_nothing_outside(tmp_path, members, message):
    staging = tmp_path / "out" / "staging"
    staging.mkdir(parents=True)
    before = set(os.listdir(tmp_path))
    with pytest.raises(UnsafePath) as e:
        unpack_directory(_evil_archive(*members), str(staging), name="d", expected_tar_digest=None)
    assert message in str(e.value)
    assert set(os.listdir(tmp_path)) == before
    assert not os.path.exists("/tmp/abs-escape.txt")


def test_a_file_written_through_an_inside_link_stays_inside(tmp_path):
    staging = tmp_path / "staging"
    staging.mkdir()
    archive = _evil_archive(("dir", "d", None), ("dir", "d/real", None), ("sym", "d/alias", "real"), ("file", "d/alias/f", b"ok"))
    top = unpack_directory(archive, str(staging), name="d", expected_tar_digest=None)
    assert (staging / "d" / "real" / "f").read_bytes() == b"ok"
    assert top == str(staging / "d")


def test_a_corrupt_archive_is_reported_as_invalid(tmp_path):
    staging = tmp_path / "staging"
    staging.mkdir()
    with pytest.raises(DigestMismatch, match="not a valid tar.gz"):
        unpack_directory(io.BytesIO(b"\x1f\x8b\x08\x00garbage" * 10), str(staging), name="d", expected_tar_digest=None)


@pytest.mark.parametrize("link, target", [
    ("abs", "/etc/hostname"),
    ("up", "../outside.txt"),
    ("sub/up", "../../outside.txt"),
])
def test_a_link_out_of_the_directory_is_refused_at_push_naming_it(tmp_path, link, target):
    """The same links our pull refuses (link_stays_inside): the producer fails, not the consumer."""
    src = make_tree(tmp_path / "results")
    (src / link).symlink_to(target)
    with pytest.raises(LocalPathError) as e:
        _pack(src)
    assert f"results/{link}" in str(e.value) and repr(target) in str(e.value)


def test_links_that_stay_inside_are_kept_as_links(tmp_path):
    src = make_tree(tmp_path / "results")  # holds latest -> sub/log.txt
    (src / "sub" / "up").symlink_to("../metrics.json")
    (src / "dangling").symlink_to("not-yet")
    _, data = _pack(src)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        links = {m.name: m.linkname for m in tar.getmembers() if m.issym()}
    assert links == {"results/latest": "sub/log.txt", "results/sub/up": "../metrics.json", "results/dangling": "not-yet"}
