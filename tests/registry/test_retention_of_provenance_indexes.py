"""`kubectl oras gc` deletes an output's provenance index tag (the tag schema's `sha256-<hex>`)
once no tag that stays points at the output, on both registries (neither serves the referrers
API), and the outputs it keeps still show their statements in `kubectl oras inspect`.

The expected tags are built by construction (which output was pushed, kept or gone), not by
calling the choice function the command uses.
"""

from __future__ import annotations

import json

from typer.testing import CliRunner

from kubectl_oras.agent.provenance import attach_statement
from kubectl_oras.oci.push import push_artifact
from kubectl_oras.oci.reference import Reference
from kubectl_oras.oci.referrers import fallback_tag
from kubectl_oras.provenance.record import AGENT_BUILDER, Produced, manifest_annotations
from kubectl_oras.provenance.statement import MEDIA_TYPE

runner = CliRunner()


def cli(*args: str):
    from kubectl_oras.cli import app

    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output + result.stderr
    return result


def output(client, host: str, repository: str, tag: str, workdir) -> str:
    """An output as a step's sidecar pushes it (annotations and statement): its digest."""
    (workdir / f"{tag}.txt").write_text(f"{repository}:{tag}\n")
    produced = Produced(builder=AGENT_BUILDER, namespace="lab", workload="Job/sim", pod=f"sim-{tag}", node="node-1",
                        image="reg.example/sim@sha256:" + "e" * 64, exit_code=0, inputs=(), argv=("sim",))
    ref = Reference(host, repository, tag)
    result = push_artifact(client, ref, [str(workdir / f"{tag}.txt")], annotations=manifest_annotations(produced))
    attach_statement(client, ref, result, produced)
    return result.digest


def test_gc_deletes_the_index_tags_of_deleted_outputs_and_keeps_the_others(registry, client, repo, workdir):
    host = registry.host
    digests = {tag: output(client, host, repo, tag, workdir) for tag in ("final", "iter-0", "iter-1", "iter-2")}
    # an output deleted before this run (by digest: distribution 2.8 deletes no tag by name) left its index
    gone = output(client, host, repo, "lost", workdir)
    assert client.delete_manifest(repo, gone).status_code == 202
    before = set(client.list_tags(repo))
    assert before == {*digests, *(fallback_tag(d) for d in digests.values()), fallback_tag(gone)}  # "lost" is gone

    args = ("gc", repo, "-r", host, "--plain-http", "--keep-last", "1", "--keep", "final", "-o", "json")
    dry = cli(*args, "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    would = {t["tag"] for t in json.loads(dry.stdout)["tags"] if t["result"] == "would-delete"}
    expected = {"iter-0", "iter-1", fallback_tag(digests["iter-0"]), fallback_tag(digests["iter-1"]),
                fallback_tag(gone)}
    assert would == expected
    assert set(client.list_tags(repo)) == before  # a dry run deletes nothing

    done = cli(*args)
    assert done.exit_code == 0, done.stderr
    assert {t["tag"] for t in json.loads(done.stdout)["tags"] if t["result"] == "deleted"} == expected
    assert set(client.list_tags(repo)) == before - expected

    for tag in ("final", "iter-2"):
        shown = cli("inspect", f"{repo}:{tag}", "-r", host, "--plain-http", "-o", "json")
        assert shown.exit_code == 0, shown.stderr
        found = json.loads(shown.stdout)
        assert found["digest"] == digests[tag]
        [statement] = found["provenance"]["statements"]
        assert statement["subject"][0]["digest"] == {"sha256": digests[tag].removeprefix("sha256:")}
        assert [r["artifactType"] for r in found["referrers"]] == [MEDIA_TYPE]

    again = cli(*args)  # a second run finds nothing more to delete
    assert again.exit_code == 0 and json.loads(again.stdout)["deleted"] == 0
