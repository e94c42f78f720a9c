"""`kubectl oras pull` with several references and tag patterns against real registries: a
subdirectory per matched tag, one session, and no file of one artifact silently replaced by
another's unless --force (the Go oras CLI, our peer, replaces by default: docs/cli.md); `ls --all`."""

import json
import os
import subprocess

import pytest
from typer.testing import CliRunner

from kubectl_oras.cli import app
from kubectl_oras.oci.push import push_artifact
from kubectl_oras.oci.reference import Reference

runner = CliRunner()


def cli(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output + result.stderr
    return result


def push(client, ref, files, workdir):
    """``files`` ({name: text}) pushed as ``ref`` from a directory of their own."""
    src = workdir / f"src-{ref.repository.replace('/', '-')}-{ref.tag}"
    src.mkdir()
    for name, text in files.items():
        (src / name).write_text(text)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(src)
        return push_artifact(client, ref, list(files))


@pytest.fixture
def runs(client, registry, workdir):
    """exp1/partial:run-1, run-2 and run-3-failed (a failed step's), and exp1/config:v1."""
    for tag in ("run-1", "run-2", "run-3-failed"):
        push(client, Reference(registry.host, "exp1/partial", tag), {"part.csv": f"{tag}\n"}, workdir)
    push(client, Reference(registry.host, "exp1/config", "v1"), {"config.yaml": "n: 2\n"}, workdir)
    return registry.host


def test_a_pattern_pulls_each_matching_tag_into_its_own_directory(runs, workdir):
    r = cli("pull", "exp1/partial:run-*", "exp1/config:v1", "-o", workdir / "parts", "-r", runs, "--plain-http",
            "--format", "json")
    assert r.exit_code == 0, r.stderr
    assert (workdir / "parts" / "run-1" / "part.csv").read_text() == "run-1\n"
    assert (workdir / "parts" / "run-2" / "part.csv").read_text() == "run-2\n"
    assert not (workdir / "parts" / "run-3-failed").exists()  # as a pod's pattern input: not a failed run's
    assert (workdir / "parts" / "config.yaml").read_text() == "n: 2\n"
    pulled = json.loads(r.stdout)["pulled"]
    assert [(p["reference"].split("/", 1)[1], p["directory"]) for p in pulled] == [
        ("exp1/config:v1", str(workdir / "parts")),
        ("exp1/partial:run-1", str(workdir / "parts" / "run-1")),
        ("exp1/partial:run-2", str(workdir / "parts" / "run-2"))]
    again = cli("pull", "exp1/partial:run-*", "exp1/config:v1", "-o", workdir / "parts", "-r", runs, "--plain-http")
    assert again.exit_code == 0, again.stderr  # the same results pulled again: nothing belongs to another


def test_a_pattern_that_matches_nothing_is_refused_naming_it(runs, workdir):
    r = cli("pull", "exp1/partial:iter-*", "-o", workdir / "parts", "-r", runs, "--plain-http")
    assert r.exit_code == 1
    assert r.stderr.strip() == f"error: exp1/partial:iter-*: no tag of {runs}/exp1/partial matches iter-*"


def test_another_artifacts_file_is_not_replaced_without_force(client, registry, workdir):
    host = registry.host
    push(client, Reference(host, "exp1/a", "v1"), {"result.txt": "a\n"}, workdir)
    push(client, Reference(host, "exp1/b", "v1"), {"result.txt": "b\n"}, workdir)
    out = workdir / "out"
    r = cli("pull", "exp1/a:v1", "exp1/b:v1", "-o", out, "-r", host, "--plain-http")
    assert r.exit_code == 1
    assert r.stderr.strip() == (
        f"error: {out / 'result.txt'}: {host}/exp1/a:v1 and {host}/exp1/b:v1 both have it, with other bytes; "
        "nothing was pulled: give --force to replace it (the later one wins)")
    assert not out.exists()  # refused before anything was written, a's file too
    r = cli("pull", "exp1/a:v1", "exp1/b:v1", "-o", out, "-r", host, "--plain-http", "--force")
    assert r.exit_code == 0, r.stderr
    assert (out / "result.txt").read_text() == "b\n"  # the later one, as asked
    r = cli("pull", "exp1/a:v1", "exp1/b:v1", "-o", out, "-r", host, "--plain-http")
    assert r.exit_code == 1 and "exp1/a:v1's result.txt" in r.stderr and "nothing was pulled" in r.stderr


def test_a_users_file_under_a_later_match_is_refused_before_any_match_is_pulled(runs, workdir):
    mine = workdir / "parts" / "run-2" / "part.csv"
    mine.parent.mkdir(parents=True)
    mine.write_text("my own notes\n")
    r = cli("pull", "exp1/config:v1", "exp1/partial:run-*", "-o", workdir / "parts", "-r", runs, "--plain-http")
    assert r.exit_code == 1
    assert r.stderr.strip() == (f"error: {mine}: is there already and is not {runs}/exp1/partial:run-2's part.csv "
                                "(another artifact's, or yours); nothing was pulled: give --force to replace it")
    assert sorted(p.name for p in (workdir / "parts").iterdir()) == ["run-2"]  # neither config.yaml nor run-1
    assert mine.read_text() == "my own notes\n"


def test_a_users_file_is_kept_by_a_pattern_pull_and_replaced_by_a_single_pull(runs, workdir):
    mine = workdir / "parts" / "run-1" / "part.csv"
    mine.parent.mkdir(parents=True)
    mine.write_text("my own notes\n")
    r = cli("pull", "exp1/partial:run-*", "-o", workdir / "parts", "-r", runs, "--plain-http")
    assert r.exit_code == 1 and f"{mine}: is there already" in r.stderr
    assert mine.read_text() == "my own notes\n" and not (workdir / "parts" / "run-2").exists()
    r = cli("pull", "exp1/partial:run-1", "-o", mine.parent, "-r", runs, "--plain-http")
    assert r.exit_code == 0 and mine.read_text() == "run-1\n"  # one reference: merged as before, as Go oras does


def test_go_oras_replaces_a_file_unless_told_to_keep_old_files(runs, oras, workdir):
    """The peer's behaviour that docs/cli.md compares with: a pull replaces, `-k` refuses."""
    out = workdir / "go"
    out.mkdir()
    (out / "part.csv").write_text("my own notes\n")
    kept = subprocess.run([oras, "pull", "-k", "--plain-http", f"{runs}/exp1/partial:run-1"], cwd=out,
                          capture_output=True, text=True)
    assert kept.returncode != 0 and (out / "part.csv").read_text() == "my own notes\n"
    done = subprocess.run([oras, "pull", "--plain-http", f"{runs}/exp1/partial:run-1"], cwd=out,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (out / "part.csv").read_text() == "run-1\n"
    same = subprocess.run([oras, "pull", "-k", "--plain-http", f"{runs}/exp1/partial:run-1"], cwd=out,
                          capture_output=True, text=True)
    assert same.returncode != 0  # -k refuses a file there even with the very bytes it would write


def test_two_patterns_that_match_one_tag_are_refused_before_anything_is_pulled(runs, workdir):
    r = cli("pull", "exp1/partial:run-*", "exp1/partial:run-1", "exp1/partial:*-1", "-o", workdir / "p", "-r", runs,
            "--plain-http")
    assert r.exit_code == 1
    assert "exp1/partial:run-* and exp1/partial:*-1 would both place run-1 in the output directory" in r.stderr
    assert not (workdir / "p").exists()


def test_ls_hides_the_controllers_own_repositories_unless_all(client, registry, workdir):
    push(client, Reference(registry.host, "kubectl-oras/reclaim", "request"), {"marker": "m"}, workdir)
    push(client, Reference(registry.host, "exp1/visible", "v1"), {"f": "f"}, workdir)
    shown = cli("ls", "-r", registry.host, "--plain-http", "-o", "json")
    assert "exp1/visible" in json.loads(shown.stdout)["repositories"]
    assert "kubectl-oras/reclaim" not in json.loads(shown.stdout)["repositories"]
    every = cli("ls", "--all", "-r", registry.host, "--plain-http")
    assert {"kubectl-oras/reclaim", "exp1/visible"} <= set(every.stdout.split())


def test_an_artifacts_symlink_pulled_again_is_the_same_result(client, registry, workdir):
    """A symlink already there that leads where the artifact's does is that artifact's, pulled
    again (the same reference twice on one line, or the same line run twice); one that leads
    elsewhere is another's, and refused."""
    host = registry.host
    src = workdir / "src-link"
    (src / "results").mkdir(parents=True)
    (src / "results" / "log.txt").write_text("log\n")
    (src / "results" / "latest").symlink_to("log.txt")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(src)
        push_artifact(client, Reference(host, "exp1/linked", "v1"), ["results"])
    out = workdir / "out"
    r = cli("pull", "exp1/linked:v1", "exp1/linked:v1", "-o", out, "-r", host, "--plain-http")
    assert r.exit_code == 0, r.stderr
    assert os.readlink(out / "results" / "latest") == "log.txt"
    (out / "results" / "latest").unlink()
    (out / "results" / "latest").symlink_to("elsewhere.txt")
    r = cli("pull", "exp1/linked:v1", "exp1/linked:v1", "-o", out, "-r", host, "--plain-http")
    assert r.exit_code == 1 and f"{out / 'results' / 'latest'}: is there already" in r.stderr
    assert os.readlink(out / "results" / "latest") == "elsewhere.txt"


def test_a_tags_directory_that_is_a_symlink_out_of_the_output_is_refused_before_anything_is_pulled(runs, workdir):
    outside = workdir / "outside"
    outside.mkdir()
    (workdir / "parts").mkdir()
    (workdir / "parts" / "run-2").symlink_to(outside)
    r = cli("pull", "exp1/partial:run-*", "exp1/config:v1", "-o", workdir / "parts", "-r", runs, "--plain-http")
    assert r.exit_code == 1
    assert r.stderr.strip() == (
        f"error: {workdir / 'parts' / 'run-2'}: a symlink that does not lead to a directory inside "
        f"{workdir / 'parts'} stands where exp1/partial:run-* pulls {runs}/exp1/partial:run-2; refusing to write "
        "through it; nothing was pulled")
    assert list(outside.iterdir()) == [] and sorted(p.name for p in (workdir / "parts").iterdir()) == ["run-2"]
    (workdir / "parts" / "run-2").unlink()
    (workdir / "parts" / "inside").mkdir()
    (workdir / "parts" / "run-2").symlink_to("inside")  # a link within the output is followed, as a single pull does
    r = cli("pull", "exp1/partial:run-*", "-o", workdir / "parts", "-r", runs, "--plain-http")
    assert r.exit_code == 0, r.stderr
    assert (workdir / "parts" / "inside" / "part.csv").read_text() == "run-2\n"


def test_force_never_puts_a_file_where_a_directory_goes_and_says_so_before_pulling(client, registry, workdir):
    """--force replaces files, never a directory by a file or a file by a directory: two plain
    references that disagree, or one that disagrees with the output, are refused from their
    manifests, before either artifact is written."""
    host = registry.host
    tree = workdir / "src-tree"
    (tree / "results").mkdir(parents=True)
    (tree / "results" / "x.txt").write_text("x\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tree)
        push_artifact(client, Reference(host, "exp1/dir", "v1"), ["results"])
    push(client, Reference(host, "exp1/file", "v1"), {"results": "a file\n"}, workdir)
    out = workdir / "out"
    r = cli("pull", "exp1/dir:v1", "exp1/file:v1", "-o", out, "-r", host, "--plain-http", "--force")
    assert r.exit_code == 1
    assert r.stderr.strip() == (f"error: {out / 'results'}: {host}/exp1/dir:v1 has a directory there and "
                                f"{host}/exp1/file:v1 a file; nothing was pulled")
    assert not out.exists()
    (out / "results").mkdir(parents=True)
    push(client, Reference(host, "exp1/config", "v1"), {"config.yaml": "n: 2\n"}, workdir)
    r = cli("pull", "exp1/config:v1", "exp1/file:v1", "-o", out, "-r", host, "--plain-http", "--force")
    assert r.exit_code == 1
    assert r.stderr.strip().endswith(f"{out / 'results'}: is a directory; {host}/exp1/file:v1 has file 'results' "
                                     "there; nothing was pulled")
    assert [p.name for p in out.iterdir()] == ["results"]
