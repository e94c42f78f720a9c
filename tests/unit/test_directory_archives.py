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


def test_a_member_under_a_link_is_refused_naming_both(tmp_path):
    """Our pack never writes a member under a linked directory; unpack never writes through one."""
    staging = tmp_path / "staging"
    staging.mkdir()
    archive = _evil_archive(("dir", "d", None), ("dir", "d/real", None), ("sym", "d/alias", "real"), ("file", "d/alias/f", b"ok"))
    with pytest.raises(UnsafePath) as e:
        unpack_directory(archive, str(staging), name="d", expected_tar_digest=None)
    assert "'d/alias/f'" in str(e.value) and "symlink 'd/alias'" in str(e.value)
    assert os.listdir(staging / "d" / "real") == []


def _outside(tmp_path, staging):
    """Everything under tmp_path but the staging directory: what a pull must leave alone."""
    out = set()
    for dirpath, dirnames, filenames in os.walk(tmp_path):
        if os.path.abspath(dirpath).startswith(str(staging)):
            continue
        out.update(os.path.join(dirpath, n) for n in dirnames + filenames)
    return out


def _chain(n):
    """d -> . and u1 -> d/.., u2 -> u1/.., ...: each text normalises to '.', each climbs one more level."""
    return [("dir", "results", None), ("sym", "results/d", "."), ("sym", "results/u1", "d/..")] + [
        ("sym", f"results/u{k}", f"u{k - 1}/..") for k in range(2, n + 1)
    ]


def test_a_chain_of_links_climbing_out_is_refused_at_unpack_naming_it(tmp_path):
    staging = tmp_path / "staging"
    staging.mkdir()
    with pytest.raises(UnsafePath) as e:
        unpack_directory(io.BytesIO(tar_gz(*_chain(2))), str(staging), name="results", expected_tar_digest=None)
    assert "'results/u1'" in str(e.value) and "'d/..'" in str(e.value) and "results/d -> '.'" in str(e.value)


def test_a_member_under_a_chain_of_links_creates_nothing_outside_the_staging_dir(tmp_path):
    """u7 leads seven levels up, to l2; the member would create l2/PWNED/x/f there."""
    staging = tmp_path.joinpath("sentinel", "l1", "l2", "l3", "l4", "l5", "l6", "l7", "staging")
    staging.mkdir(parents=True)
    (tmp_path / "sentinel" / "keep.txt").write_text("mine")
    before = _outside(tmp_path, staging)
    archive = tar_gz(*_chain(7), ("file", "results/u7/PWNED/x/f", b"hi"))
    with pytest.raises(UnsafePath) as e:
        unpack_directory(io.BytesIO(archive), str(staging), name="results", expected_tar_digest=None)
    assert _outside(tmp_path, staging) == before
    assert not (tmp_path / "sentinel" / "l1" / "l2" / "PWNED").exists()
    assert "'results/u7/PWNED/x/f'" in str(e.value) and "'results/u7'" in str(e.value)


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


@pytest.mark.parametrize("link, target, through", [
    ("u1", "d/..", "results/d -> '.'"),
    ("l", "d/../secret.txt", "results/d -> '.'"),
])
def test_a_chain_of_links_climbing_out_is_refused_at_push_naming_it(tmp_path, link, target, through):
    """d -> . makes d/.. the parent of results, though the text normalises inside."""
    src = tmp_path / "results"
    src.mkdir()
    (tmp_path / "secret.txt").write_text("outside results")
    (src / "d").symlink_to(".")
    (src / link).symlink_to(target)
    (src / "u2").symlink_to("u1/..")
    with pytest.raises(LocalPathError) as e:
        _pack(src)
    message = str(e.value)
    assert f"results/{link} is a symbolic link to {target!r}" in message and through in message


def test_chains_of_links_that_stay_inside_round_trip(tmp_path):
    src = make_tree(tmp_path / "results")
    (src / "d").symlink_to("sub")
    (src / "l").symlink_to("d/log.txt")
    (src / "e").symlink_to("d/deeper")
    (src / "m").symlink_to("e/data.bin")
    (src / "self").symlink_to(".")
    (src / "back").symlink_to("self/sub/../metrics.json")
    (src / "sub" / "deeper" / "up").symlink_to("../../d/deeper/../log.txt")
    (src / "loop1").symlink_to("loop2")
    (src / "loop2").symlink_to("loop1")
    packed, data = _pack(src)
    staging = tmp_path / "staging"
    staging.mkdir()
    top = unpack_directory(io.BytesIO(data), str(staging), name="results", expected_tar_digest=packed.tar_digest)
    assert snapshot(src) == snapshot(top)
    assert (staging / "results" / "m").read_bytes() == (src / "sub" / "deeper" / "data.bin").read_bytes()
    assert (staging / "results" / "sub" / "deeper" / "up").read_text() == (src / "sub" / "log.txt").read_text()
