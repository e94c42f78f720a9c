"""Pulling into a directory that already holds files: the user's files are safe.

The artifact merges into what is there as the Go oras CLI does; a pull that cannot place every
file changes nothing; a pull the filesystem has no room for says so, naming the directory.
"""

import os
import subprocess
import sys

import pytest

from kubectl_oras.errors import OrasError
from kubectl_oras.oci.client import RegistryClient
from kubectl_oras.oci.errors import LocalPathError
from kubectl_oras.oci.pull import STAGING_PREFIX, pull_artifact
from kubectl_oras.oci.push import push_artifact
from kubectl_oras.oci.reference import Reference
from tests.support.faulty_proxy import FaultyProxy
from tests.support.tools import interruptible
from tests.support.trees import snapshot


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def push_from(client, ref, src, paths, monkeypatch):
    monkeypatch.chdir(src)  # titles are the paths as given, relative to here
    return push_artifact(client, ref, paths)


def no_staging_left(out):
    assert [p for p in os.listdir(out) if p.startswith(STAGING_PREFIX)] == []


@pytest.fixture
def small_fs(tmp_path):
    """A 1 MiB tmpfs, unmounted whatever happens."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        if subprocess.run(["umount", str(mnt)]).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], check=True)


def test_a_directory_merges_into_the_users_directory_as_go_oras_does(client, ref, oras, workdir, monkeypatch):
    src = workdir / "src"
    write(src / "d" / "same.txt", "from the artifact")
    write(src / "d" / "sub" / "new.txt", "new from the artifact")
    write(src / "top.txt", "top from the artifact")
    push_from(client, ref, src, ["d", "top.txt"], monkeypatch)

    def users_files(root):
        write(root / "d" / "mine.txt", "the user's")
        write(root / "d" / "same.txt", "the user's older version")
        write(root / "d" / "sub" / "keep.txt", "the user's, one level down")
        write(root / "unrelated.txt", "the user's")
        return root

    ours, theirs = users_files(workdir / "ours"), users_files(workdir / "theirs")
    pull_artifact(client, ref, str(ours))
    subprocess.run([oras, "pull", "--plain-http", str(ref)], cwd=theirs, check=True, capture_output=True)

    assert snapshot(ours) == snapshot(theirs)  # the same merge as the Go oras CLI
    assert (ours / "d" / "mine.txt").read_text() == "the user's"
    assert (ours / "d" / "sub" / "keep.txt").read_text() == "the user's, one level down"
    assert (ours / "d" / "same.txt").read_text() == "from the artifact"
    assert (ours / "d" / "sub" / "new.txt").read_text() == "new from the artifact"
    no_staging_left(ours)


def test_a_clash_on_the_second_file_leaves_the_first_unchanged(client, ref, workdir, monkeypatch):
    src = workdir / "src"
    write(src / "a.txt", "from the artifact")
    write(src / "b.txt", "from the artifact")
    push_from(client, ref, src, ["a.txt", "b.txt"], monkeypatch)
    out = workdir / "out"
    write(out / "a.txt", "the user's")
    write(out / "b.txt" / "inside.txt", "the user's")  # a directory where the artifact has a file
    before = snapshot(out)

    with pytest.raises(LocalPathError) as e:
        pull_artifact(client, ref, str(out))
    assert (out / "a.txt").read_text() == "the user's"
    assert snapshot(out) == before
    assert f"{out / 'b.txt'}: is a directory; the artifact has file 'b.txt' there" in str(e.value)
    assert "nothing was changed" in str(e.value)
    no_staging_left(out)


def test_a_rename_that_fails_midway_is_undone(client, ref, workdir, small_fs, monkeypatch):
    """The second rename crosses into another filesystem (EXDEV): the first one is undone."""
    src = workdir / "src"
    write(src / "a.txt", "from the artifact")
    write(src / "mnt" / "x.txt", "from the artifact")
    push_from(client, ref, src, ["a.txt", "mnt/x.txt"], monkeypatch)
    out = workdir / "out"
    write(out / "a.txt", "the user's")
    (out / "mnt").mkdir()
    subprocess.run(["mount", "--bind", str(small_fs), str(out / "mnt")], check=True)
    try:
        with pytest.raises(LocalPathError) as e:
            pull_artifact(client, ref, str(out))
        assert str(out / "mnt" / "x.txt") in str(e.value) and "cross-device" in str(e.value)
        assert "the output directory is as it was" in str(e.value)
        assert (out / "a.txt").read_text() == "the user's"
        assert os.listdir(out / "mnt") == []
        no_staging_left(out)
    finally:
        subprocess.run(["umount", str(out / "mnt")], check=True)


def test_a_pull_bigger_than_the_free_space_is_refused_before_downloading(client, ref, registry, workdir, small_fs,
                                                                          monkeypatch):
    src = workdir / "src"
    (src).mkdir()
    (src / "big.bin").write_bytes(os.urandom(3 << 20))
    push_from(client, ref, src, ["big.bin"], monkeypatch)
    proxy = FaultyProxy(registry.host).start()  # no faults: it only records what was asked
    try:
        out = small_fs / "out"
        st = os.statvfs(small_fs)
        available = st.f_bavail * st.f_frsize
        with pytest.raises(LocalPathError) as e:
            pull_artifact(RegistryClient(proxy.host, plain_http=True), Reference(proxy.host, ref.repository, ref.tag),
                          str(out))
    finally:
        proxy.stop()
    message = str(e.value)
    assert message.startswith(f"{out}: not enough free space"), message
    assert f"need {3 << 20} bytes" in message and f"{available} bytes (1.0 MiB) available" in message, message
    assert not [path for _, path, _ in proxy.seen if "/blobs/" in path], "a blob was downloaded"
    assert os.listdir(small_fs) == []


def test_running_out_of_space_while_unpacking_is_one_clear_error(client, ref, workdir, small_fs, monkeypatch):
    """3 MiB of zeros compress to a few KiB: the free-space check passes, the unpacking runs out."""
    src = workdir / "src"
    (src / "zeros").mkdir(parents=True)
    (src / "zeros" / "z.bin").write_bytes(bytes(3 << 20))
    push_from(client, ref, src, ["zeros"], monkeypatch)
    out = small_fs / "out"
    write(out / "keep.txt", "the user's")
    with pytest.raises(LocalPathError) as e:
        pull_artifact(client, ref, str(out))
    message = str(e.value)
    assert message.startswith(f"{out}: no space left on the device while writing 'zeros'"), message
    assert "nothing was placed" in message
    assert os.listdir(out) == ["keep.txt"]


@pytest.mark.parametrize("arrange, message", [
    (lambda out, elsewhere: write(out / "d", "the user's file"), "{out}/d: is a file; the artifact has directory 'd'"),
    (lambda out, elsewhere: (out / "d").symlink_to(elsewhere),
     "{out}/d: a symlink that does not lead to a directory inside {out}"),
], ids=["a-file-where-the-artifact-has-a-directory", "a-symlink-to-a-directory-outside"])
def test_a_directory_is_never_placed_over_a_file_or_through_a_link_leading_out(client, ref, workdir, monkeypatch,
                                                                                arrange, message):
    src = workdir / "src"
    write(src / "a.txt", "from the artifact")
    write(src / "d" / "f.txt", "from the artifact")
    push_from(client, ref, src, ["a.txt", "d"], monkeypatch)
    out, elsewhere = workdir / "out", workdir / "elsewhere"
    write(out / "a.txt", "the user's")
    write(elsewhere / "f.txt", "outside the output directory")
    arrange(out, elsewhere)
    before = snapshot(out)
    with pytest.raises(OrasError) as e:
        pull_artifact(client, ref, str(out))
    assert (elsewhere / "f.txt").read_text() == "outside the output directory"
    assert snapshot(out) == before
    assert message.format(out=out) in str(e.value)
    no_staging_left(out)


def test_a_symlink_where_the_artifact_has_a_file_is_replaced_never_written_through(client, ref, workdir, monkeypatch):
    src = workdir / "src"
    write(src / "f.txt", "from the artifact")
    push_from(client, ref, src, ["f.txt"], monkeypatch)
    out, target = workdir / "out", write(workdir / "elsewhere.txt", "outside the output directory")
    out.mkdir()
    (out / "f.txt").symlink_to(target)
    pull_artifact(client, ref, str(out))
    assert not (out / "f.txt").is_symlink() and (out / "f.txt").read_text() == "from the artifact"
    assert target.read_text() == "outside the output directory"


PLACE_AND_INTERRUPT = """
import os, signal, sys
from kubectl_oras.oci.client import RegistryClient
from kubectl_oras.oci.pull import pull_artifact
from kubectl_oras.oci.reference import Reference

host, repo, out = sys.argv[1:4]
real_rename, renames = os.rename, []

def rename(src, dst):  # the fault: Ctrl-C arrives while the files are being placed in `out`
    if out in (os.path.dirname(str(src)), os.path.dirname(str(dst))):
        renames.append(dst)
        if len(renames) == 3:
            os.kill(os.getpid(), signal.SIGINT)
    real_rename(src, dst)

os.rename = rename
try:
    pull_artifact(RegistryClient(host, plain_http=True), Reference(host, repo, "v1"), out)
except KeyboardInterrupt:
    print("interrupted after", len(renames), "renames")
"""


def test_ctrl_c_while_files_are_placed_neither_cuts_the_artifact_nor_loses_the_users_files(any_registry, repo, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("a.txt", "b.txt", "c.txt"):
        (src / name).write_text(f"artifact {name}")
    push_artifact(RegistryClient(any_registry.host, plain_http=True), Reference(any_registry.host, repo, "v1"),
                  [str(src / n) for n in ("a.txt", "b.txt", "c.txt")])
    out = tmp_path / "out"
    out.mkdir()
    for name in ("a.txt", "b.txt", "c.txt"):
        (out / name).write_text(f"user's {name}")
    r = subprocess.run([sys.executable, "-c", PLACE_AND_INTERRUPT, any_registry.host, repo, str(out)],
                       capture_output=True, text=True, timeout=60, preexec_fn=interruptible)
    assert "interrupted after" in r.stdout, r.stderr
    # The placement ran to its end, then the interrupt took effect: all of the artifact, nothing lost.
    assert {p.name: p.read_text() for p in out.iterdir()} == {n: f"artifact {n}" for n in ("a.txt", "b.txt", "c.txt")}
