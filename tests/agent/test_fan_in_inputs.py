"""Tier 1: an input whose tag is a pattern (``results/pi:run-*``), pulled by the agent from a real
registry: every matching tag into its own subdirectory, across pages of the tag listing, and no
match at all is the init container's one-line failure naming the annotation."""

from __future__ import annotations

import pytest

from kubectl_oras.oci.push import push_artifact
from kubectl_oras.oci.reference import Reference
from kubectl_oras.pods.annotations import PREFIX
from tests.agent.protocol import LocalPod
from tests.support.faulty_proxy import FaultyProxy
from tests.support.trees import make_tree, snapshot


@pytest.fixture
def pod(registry, tmp_path):
    p = LocalPod(registry.host, tmp_path)
    yield p
    p.cleanup()


def produce(client, registry, repo, tag, tmp_path, *, text=None, tree=False):
    """What one pod of the fan-out pushes: pi.txt, or a directory ``sim``."""
    where = tmp_path / "made" / tag
    where.mkdir(parents=True)
    if tree:
        make_tree(where / "sim")
        paths = [str(where / "sim")]
    else:
        (where / "pi.txt").write_text(text or tag)
        paths = [str(where / "pi.txt")]
    return push_artifact(client, Reference(registry.host, repo, tag), paths)


def test_every_matching_tag_lands_in_a_subdirectory_named_by_it(pod, client, registry, repo, tmp_path):
    for i in range(3):
        produce(client, registry, repo, f"run-{i}", tmp_path, text=f"3.14{i}\n")
    produce(client, registry, repo, "run-3", tmp_path, tree=True)
    for other in ("rerun-0", "latest", "Run-9", "run", "run-1-failed"):  # not matched by run-*
        produce(client, registry, repo, other, tmp_path)
    produce(client, registry, f"{repo}-plain", "v1", tmp_path, text="plain\n")
    pod.inputs = [f"{repo}:run-*", f"{repo}-plain:v1"]
    pod.input_keys = [PREFIX + "input-uri", PREFIX + "input-uri_1"]
    pod.input_path = "gathered"
    init = pod.init()
    assert init.returncode == 0, init.stderr
    assert f"{repo}:run-* matches 4 tags: run-0, run-1, run-2, run-3" in init.stderr
    inputs = pod.share / "inputs"
    assert sorted(p.name for p in inputs.iterdir()) == ["pi.txt", "run-0", "run-1", "run-2", "run-3"]
    code, out, err = pod.run_step("sh", "-c", "cat gathered/run-*/pi.txt; cat gathered/pi.txt")
    assert code == 0, err
    assert out == "3.140\n3.141\n3.142\nplain\n"
    assert snapshot(pod.workdir / "gathered" / "run-3" / "sim") == snapshot(tmp_path / "made" / "run-3" / "sim")
    assert sorted(p.name for p in (pod.workdir / "gathered").iterdir()) == [
        "pi.txt", "run-0", "run-1", "run-2", "run-3"]


def test_matches_on_a_later_page_of_the_tag_listing_are_pulled(pod, client, registry, repo, tmp_path):
    produce(client, registry, repo, "seed", tmp_path)
    body = client.request("GET", f"/v2/{repo}/manifests/seed", what="get",
                          headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}).content
    for i in range(1005):  # "other-…" sort before "run-…": a 1000-tag first page holds none of the matches
        client.put_manifest(repo, f"other-{i}", body)
    for i in range(2):
        produce(client, registry, repo, f"run-{i}", tmp_path)
    proxy = FaultyProxy(registry.host).start()  # counts the agent's requests
    try:
        pod.registry = proxy.host
        pod.inputs = [f"{repo}:run-?"]
        init = pod.init()
    finally:
        proxy.stop()
    assert init.returncode == 0, init.stderr
    pages = sum(1 for _, path, _ in proxy.seen if "/tags/list" in path)
    assert pages == (1 if registry.kind == "distribution-2.8" else 2)  # 2.8 ignores n= and answers all at once
    assert sorted(p.name for p in (pod.share / "inputs").iterdir()) == ["run-0", "run-1"]
    assert (pod.share / "inputs" / "run-1" / "pi.txt").read_text() == "run-1"


@pytest.mark.parametrize("pushed", [["rerun-0", "latest"], []], ids=["no-tag-matches", "no-such-repository"])
def test_no_matching_tag_fails_the_pull_with_one_line_naming_the_annotation(pod, client, registry, repo, tmp_path,
                                                                            pushed):
    for tag in pushed:
        produce(client, registry, repo, tag, tmp_path)
    pod.inputs = [f"{repo}-plain:v1", f"{repo}:run-*"] if pushed else [f"{repo}:run-*"]
    pod.input_keys = [PREFIX + "input-uri", PREFIX + "input-uri_2"][-len(pod.inputs):]
    if pushed:
        produce(client, registry, f"{repo}-plain", "v1", tmp_path)
    init = pod.init()
    assert init.returncode == 1
    assert init.stderr.strip().splitlines()[-1] == (
        f"kubectl-oras pull: error: annotation {pod.input_keys[-1]}: no tag of {repo} matches run-*")
    assert "Traceback" not in init.stderr
