"""The Go oras CLI as our peer: each side pulls what the other pushed, identically."""

import subprocess

from kubectl_oras.oci.pull import pull_artifact
from kubectl_oras.oci.push import push_artifact
from tests.support.trees import make_tree, snapshot


def run_oras(oras, *args, cwd):
    result = subprocess.run([oras, *args], cwd=cwd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_go_oras_pulls_what_we_push(client, ref, oras, workdir):
    make_tree(workdir / "results")
    (workdir / "hello.txt").write_text("hello from python\n")
    push_artifact(client, ref, ["hello.txt", "results"])
    dest = workdir / "go-out"
    dest.mkdir()
    run_oras(oras, "pull", "--plain-http", str(ref), cwd=dest)
    assert (dest / "hello.txt").read_text() == "hello from python\n"
    assert snapshot(dest / "results") == snapshot(workdir / "results")


def test_we_pull_what_go_oras_pushes(client, ref, oras, workdir):
    src = workdir / "src"
    make_tree(src / "results")
    (src / "hello.txt").write_text("hello from go\n")
    run_oras(oras, "push", "--plain-http", str(ref), "hello.txt", "results", cwd=src)
    pulled = pull_artifact(client, ref, str(workdir / "out"))
    assert {f.title for f in pulled.files} == {"hello.txt", "results"}
    assert (workdir / "out" / "hello.txt").read_text() == "hello from go\n"
    assert snapshot(workdir / "out" / "results") == snapshot(src / "results")


def test_go_oras_sees_our_annotations_and_artifact_type(client, ref, oras, workdir):
    import json

    (workdir / "m.json").write_text("{}")
    push_artifact(client, ref, ["m.json"], annotations={"iteration": "0"}, artifact_type="application/vnd.example.v1")
    manifest = json.loads(run_oras(oras, "manifest", "fetch", "--plain-http", str(ref), cwd=workdir))
    assert manifest["artifactType"] == "application/vnd.example.v1"
    assert manifest["annotations"]["iteration"] == "0"


def test_tags_we_list_match_go_oras(client, ref, oras, workdir):
    (workdir / "f").write_text("f")
    for tag in ("iter-0", "iter-1", "iter-2"):
        push_artifact(client, ref.with_tag(tag), ["f"])
    ours = client.list_tags(ref.repository)
    theirs = run_oras(oras, "repo", "tags", "--plain-http", f"{ref.registry}/{ref.repository}", cwd=workdir).split()
    assert sorted(ours) == sorted(theirs) == ["iter-0", "iter-1", "iter-2"]
