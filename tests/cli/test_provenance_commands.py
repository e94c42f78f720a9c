"""inspect, lineage, tags -l and the statement `push` attaches, against both distributions (neither
serves the referrers API: the tag schema stands in) and go-containerregistry's registry (which
does: inspect and lineage read the referrers through it)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from kubectl_oras.agent.provenance import attach_statement
from kubectl_oras.oci.client import RegistryClient
from kubectl_oras.oci.push import push_artifact
from kubectl_oras.oci.reference import Reference
from kubectl_oras.provenance.record import AGENT_BUILDER, Input, Produced, manifest_annotations
from tests.support.registries import REFERRERS_API, REFERRERS_KINDS, start_registry

runner = CliRunner()


@pytest.fixture(scope="module", params=REFERRERS_KINDS)
def registry(request):
    proc = start_registry(request.param)
    yield proc
    proc.stop()


IMAGE = "reg.example/tools/sim@sha256:" + "e" * 64


def cli(*args):
    result = runner.invoke(app_(), [str(a) for a in args])
    assert "Traceback" not in result.output + result.stderr
    return result


def app_():
    from kubectl_oras.cli import app
    return app


def step_output(client, host, name, inputs, workdir, *, code=0):
    """What a step's sidecar pushes: the annotations and the statement, made by the agent's own code."""
    repository, tag = name.split(":")
    (workdir / f"{repository.replace('/', '-')}.txt").write_text(name)
    produced = Produced(builder=AGENT_BUILDER, namespace="lab", workload=f"Job/{repository.split('/')[-1]}",
                        pod=f"{repository.split('/')[-1]}-x2k", node="node-1", image=IMAGE, exit_code=code,
                        inputs=tuple(inputs), argv=("sim",))
    ref = Reference(host, repository, tag)
    result = push_artifact(client, ref, [str(workdir / f"{repository.replace('/', '-')}.txt")],
                           annotations=manifest_annotations(produced))
    attach_statement(client, ref, result, produced)
    return Input(name, result.digest)


def pushed_by_hand(client, host, name, workdir):
    """``kubectl oras push`` of a seed file to ``name``, as an input of later steps."""
    (workdir / "seed.txt").write_text("seed")
    assert cli("push", name, "seed.txt", "-r", host, "--plain-http").exit_code == 0
    repository, tag = name.split(":")
    return Input(name, client.resolve(repository, tag, what="t"))


def test_a_push_by_hand_is_inspected_with_its_statement_and_referrer(registry, workdir):
    host = registry.host
    (workdir / "a.txt").write_text("a")
    r = cli("push", "exp/hand:1", "a.txt", "-r", host, "--plain-http", "-o", "json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["provenance"].startswith("attached, indexed by tag sha256-")
    r = cli("inspect", "exp/hand:1", "-r", host, "--plain-http", "-o", "json")
    assert r.exit_code == 0, r.stderr
    found = json.loads(r.stdout)
    assert [(layer["title"], layer["size"]) for layer in found["layers"]] == [("a.txt", 1)]
    assert found["provenance"]["annotations"] == {"dev.kubectl-oras.pushed-by": "local user"}
    [statement] = found["provenance"]["statements"]
    assert statement["predicate"]["buildDefinition"]["internalParameters"] == {"pushedBy": "local user"}
    assert statement["subject"][0]["digest"] == {"sha256": found["digest"].removeprefix("sha256:")}
    assert [ref["artifactType"] for ref in found["referrers"]] == ["application/vnd.in-toto+json"]
    text = cli("inspect", "exp/hand:1", "-r", host, "--plain-http").stdout
    assert "  a.txt  1 bytes" in text and "statement by kubectl-oras" in text


def test_inspect_shows_a_statement_about_another_artifact_as_a_problem_not_as_provenance(registry, workdir):
    """Anyone may attach a referrer: one listed under this artifact but about another is not its provenance."""
    from kubectl_oras.oci.manifest import MANIFEST_MEDIA_TYPE
    from kubectl_oras.oci.referrers import attach
    from kubectl_oras.provenance import statement

    host = registry.host
    client = RegistryClient(host, plain_http=True)
    other = step_output(client, host, "stray/other:1", [], workdir)
    mine = pushed_by_hand(client, host, "stray/mine:1", workdir)
    forged = statement.statement(subject_name="stray/other:1", subject_digest=other.digest,
                                 produced=Produced(builder=AGENT_BUILDER, namespace="lab", workload="Job/other",
                                                   pod="other-x2k", node="node-1", image=IMAGE, exit_code=0))
    *_, body = client.fetch_manifest_bytes("stray/mine", mine.digest, what="t")
    subject = {"mediaType": MANIFEST_MEDIA_TYPE, "digest": mine.digest, "size": len(body)}
    attached = attach(client, "stray/mine", subject, artifact_type=statement.MEDIA_TYPE,
                      payload=statement.encode(forged))

    found = json.loads(cli("inspect", "stray/mine:1", "-r", host, "--plain-http", "-o", "json").stdout)
    kept = [s for s in found["provenance"]["statements"] if "problem" not in s]
    [own] = kept
    assert own["subject"][0]["digest"] == {"sha256": mine.digest.removeprefix("sha256:")}
    [refused] = [s for s in found["provenance"]["statements"] if "problem" in s]
    assert refused["digest"] == attached.digest
    assert other.digest in refused["problem"] and mine.digest in refused["problem"]
    text = cli("inspect", "stray/mine:1", "-r", host, "--plain-http").stdout
    assert f"statement {attached.digest}: referrer {attached.digest}: a statement about {other.digest}" in text
    assert "Job/other" not in text
    walked = json.loads(cli("lineage", "stray/mine:1", "-r", host, "--plain-http", "-o", "json").stdout)
    assert walked["artifacts"][0]["producer"] == "pushed by local user"


def test_lineage_walks_a_dag_back_to_both_producers_and_the_push_by_hand(registry, workdir):
    host = registry.host
    client = RegistryClient(host, plain_http=True)
    prep = pushed_by_hand(client, host, "dag/prep:1", workdir)
    left = step_output(client, host, "dag/left:1", [prep], workdir)
    right = step_output(client, host, "dag/right:1", [prep], workdir)
    step_output(client, host, "dag/join:1", [left, right], workdir)

    r = cli("lineage", "dag/join:1", "-r", host, "--plain-http", "-o", "json")
    assert r.exit_code == 0, r.stderr
    found = {a["name"]: a for a in json.loads(r.stdout)["artifacts"]}
    assert list(found) == ["dag/join:1", "dag/left:1", "dag/right:1", "dag/prep:1"]
    assert found["dag/join:1"]["inputs"] == [{"name": "dag/left:1", "digest": left.digest},
                                             {"name": "dag/right:1", "digest": right.digest}]
    assert (found["dag/left:1"]["producer"], found["dag/left:1"]["image"]) == ("Job/left pod left-x2k", IMAGE)
    assert found["dag/right:1"]["image"] == IMAGE and found["dag/prep:1"]["producer"] == "pushed by local user"
    tree = cli("lineage", "dag/join:1", "-r", host, "--plain-http").stdout.splitlines()
    assert tree[0].startswith("dag/join:1 sha256:") and tree[-1].startswith("    └── dag/prep:1")
    assert tree[-1].endswith("(shown above)")
    dot = cli("lineage", "dag/join:1", "-r", host, "--plain-http", "-o", "dot").stdout
    assert dot.startswith("digraph lineage {") and dot.count("->") == 4


@pytest.mark.parametrize("registry", [REFERRERS_API], indirect=True)
def test_inspect_and_lineage_read_the_statements_through_the_referrers_api(registry, workdir):
    """With every sha256-<hex> tag deleted, only the referrers API lists the statements."""
    host = registry.host
    client = RegistryClient(host, plain_http=True)
    prep = pushed_by_hand(client, host, "api/prep:1", workdir)
    made = step_output(client, host, "api/made:1", [prep], workdir)
    for repository, digest in (("api/prep", prep.digest), ("api/made", made.digest)):
        fallback = digest.replace(":", "-")
        assert client.delete_manifest(repository, fallback).status_code == 202
        assert fallback not in client.list_tags(repository)

    found = json.loads(cli("inspect", "api/made:1", "-r", host, "--plain-http", "-o", "json").stdout)
    [statement] = found["provenance"]["statements"]
    assert statement["subject"][0]["digest"] == {"sha256": made.digest.removeprefix("sha256:")}
    assert [ref["artifactType"] for ref in found["referrers"]] == ["application/vnd.in-toto+json"]
    r = cli("lineage", "api/made:1", "-r", host, "--plain-http", "-o", "json")
    assert r.exit_code == 0, r.stderr
    walked = {a["name"]: a for a in json.loads(r.stdout)["artifacts"]}
    assert list(walked) == ["api/made:1", "api/prep:1"]
    assert walked["api/made:1"]["producer"] == "Job/made pod made-x2k"
    assert walked["api/prep:1"]["producer"] == "pushed by local user"
    assert walked["api/made:1"]["provenance"] and walked["api/prep:1"]["provenance"]  # both statements read


def test_tags_long_shows_created_size_exit_code_and_producer(registry, workdir):
    host = registry.host
    client = RegistryClient(host, plain_http=True)
    step_output(client, host, "long/sim:ok", [], workdir)
    step_output(client, host, "long/sim:bad", [], workdir, code=3)
    r = cli("tags", "long/sim", "-l", "-r", host, "--plain-http", "-o", "json")
    assert r.exit_code == 0, r.stderr
    rows = {row["tag"]: row for row in json.loads(r.stdout)["tags"]}
    assert set(rows) == {"ok", "bad"}  # the referrers' sha256-<hex> tags are hidden
    bad = rows["bad"]
    assert (bad["exitCode"], bad["producer"], bad["size"]) == ("3", "Job/sim pod sim-x2k", len("long/sim:bad"))
    assert rows["ok"]["created"].endswith("Z")
    text = cli("tags", "long/sim", "-l", "-r", host, "--plain-http").stdout.splitlines()
    assert text[0].split() == ["TAG", "CREATED", "SIZE", "EXIT", "PRODUCER"]
    assert len(cli("tags", "long/sim", "--all", "-r", host, "--plain-http").stdout.split()) == 4


def test_inspect_of_a_missing_tag_is_one_line(registry, workdir):
    r = cli("inspect", "nowhere/none:1", "-r", registry.host, "--plain-http")
    assert r.exit_code == 1 and r.stderr.startswith("error: ") and len(r.stderr.strip().splitlines()) == 1


def test_the_referrers_index_tag_is_left_out_of_every_list_of_tags_unless_asked(registry, workdir):
    import kubectl_oras

    host = registry.host
    (workdir / "a.txt").write_text("a")
    assert cli("push", "hide/x:1", "a.txt", "-r", host, "--plain-http").exit_code == 0
    missing = cli("pull", "hide/x:9", "-r", host, "--plain-http")
    assert missing.exit_code == 1 and missing.stderr.strip().endswith("tags in hide/x: 1"), missing.stderr
    assert kubectl_oras.tags("hide/x", registry=host, plain_http=True) == ["1"]
    assert cli("tags", "hide/x", "-r", host, "--plain-http").stdout.split() == ["1"]
    every = cli("tags", "hide/x", "--all", "-r", host, "--plain-http").stdout.split()
    assert len(every) == 2 and {tag[:7] for tag in every} == {"1", "sha256-"}
