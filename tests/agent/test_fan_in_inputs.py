"""Tier 1: an input whose tag is a pattern (``results/pi:run-*``), pulled by the agent from a real
registry: every matching tag into its own subdirectory, across pages of the tag listing, and no
match at all is the init container's one-line failure naming the annotation."""

from __future__ import annotations

import json
import time

import pytest

from kubectl_oras.oci.push import push_artifact
from kubectl_oras.oci.reference import Reference
from kubectl_oras.pods.annotations import PREFIX
from tests.agent.protocol import LocalPod, wait_for
from tests.support.faulty_proxy import FaultyProxy
from tests.support.lying_registry import Answer, LyingRegistry
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
    assert f"input-uri: {repo}:run-* pulls 4 tags: run-0, run-1, run-2, run-3\n" in init.stderr
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


# -- faults: what a pattern must never do -------------------------------------------------------------


def test_the_tags_a_pattern_pulls_are_logged_in_one_line_naming_the_annotation(pod, client, registry, repo,
                                                                                 tmp_path):
    for tag in ("run-0", "run-1"):
        produce(client, registry, repo, tag, tmp_path)
    pod.inputs = [f"{repo}:run-*"]
    pod.input_keys = [PREFIX + "input-uri"]
    init = pod.init()
    assert init.returncode == 0, init.stderr
    assert f"kubectl-oras: annotation {PREFIX}input-uri: {repo}:run-* pulls 2 tags: run-0, run-1\n" in init.stderr


def test_two_pattern_inputs_matching_one_tag_are_refused_naming_both_and_the_directory(pod, client, registry, repo,
                                                                                        tmp_path):
    produce(client, registry, f"{repo}-a", "run-0", tmp_path / "a", text="from a\n")
    produce(client, registry, f"{repo}-b", "run-0", tmp_path / "b", text="from b\n")
    pod.inputs = [f"{repo}-a:run-*", f"{repo}-b:run-*"]
    pod.input_keys = [PREFIX + "input-uri", PREFIX + "input-uri_1"]
    init = pod.init()
    assert init.returncode == 1, init.stderr
    last = init.stderr.strip().splitlines()[-1]
    assert last.startswith("kubectl-oras pull: error: ")
    assert f"annotation {PREFIX}input-uri " in last and f"annotation {PREFIX}input-uri_1 " in last
    assert "run-0" in last and "Traceback" not in init.stderr
    assert not (pod.share / "inputs" / "run-0").exists()  # nothing pulled, so nothing merged


def test_a_pattern_match_and_a_plain_inputs_directory_of_one_name_are_refused(pod, client, registry, repo, tmp_path):
    produce(client, registry, repo, "run-0", tmp_path, text="match\n")
    clash = tmp_path / "plain" / "run-0"  # the plain artifact has a directory run-0 at its top
    clash.mkdir(parents=True)
    (clash / "pi.txt").write_text("plain\n")
    push_artifact(client, Reference(registry.host, f"{repo}-plain", "v1"), [str(clash)])
    pod.inputs = [f"{repo}-plain:v1", f"{repo}:run-*"]
    pod.input_keys = [PREFIX + "input-uri", PREFIX + "input-uri_1"]
    init = pod.init()
    assert init.returncode == 1, init.stderr
    last = init.stderr.strip().splitlines()[-1]
    assert f"annotation {PREFIX}input-uri " in last and f"annotation {PREFIX}input-uri_1 " in last
    assert "run-0" in last and "Traceback" not in init.stderr
    assert (pod.share / "inputs" / "run-0" / "pi.txt").read_text() == "plain\n"  # the match was never pulled over it


@pytest.fixture
def liar(tmp_path):
    """A registry that answers /v2/ and whatever tag list a test gives it; nothing else."""
    fake = LyingRegistry().start()
    fake.answer("/v2/", Answer(b"{}", headers={"Content-Type": "application/json"}))
    yield fake
    fake.stop()


def lying_pod(liar, tmp_path, tags):
    liar.answer("/v2/results/pi/tags/list", Answer(json.dumps({"name": "results/pi", "tags": tags}).encode(),
                                                   headers={"Content-Type": "application/json"}))
    p = LocalPod(liar.host, tmp_path)
    p.inputs = ["results/pi:*"]
    p.input_keys = [PREFIX + "input-uri_2"]
    return p


def test_more_matches_than_the_cap_pull_nothing_and_say_narrow_the_pattern(liar, tmp_path):
    from kubectl_oras.pods.patterns import MAX_MATCHES

    pod = lying_pod(liar, tmp_path, [f"run-{i}" for i in range(MAX_MATCHES + 1)])
    init = pod.init()
    assert init.returncode == 1
    assert init.stderr.strip().splitlines()[-1] == (
        f"kubectl-oras pull: error: annotation {PREFIX}input-uri_2: results/pi:* matches {MAX_MATCHES + 1} tags, "
        f"more than the {MAX_MATCHES} one pattern may pull; narrow the pattern")
    assert not [path for _, path in liar.seen if "/manifests/" in path or "/blobs/" in path]


@pytest.mark.parametrize("lie", ["..", "../x", "a/b", "", "r" * 200, "run-1\nkubectl-oras: pulled"],
                         ids=["dotdot", "dotdot-x", "slash", "empty", "200-characters", "newline"])
def test_a_listed_tag_that_is_no_tag_is_refused_naming_the_answer_and_the_annotation(liar, tmp_path, lie):
    pod = lying_pod(liar, tmp_path, ["0", lie])  # "0" sorts after most lies: a valid match is no excuse either
    init = pod.init()
    assert init.returncode == 1
    last = init.stderr.strip().splitlines()[-1]
    assert last.startswith(f"kubectl-oras pull: error: annotation {PREFIX}input-uri_2: "), init.stderr
    said = repr(lie) if len(repr(lie)) <= 60 else repr(lie)[:57] + "..."
    assert f"the registry listed {said} among the tags of results/pi" in last
    assert "kubectl-oras: pulled" not in init.stderr.replace(said, "")  # the lie is quoted, never printed raw
    assert "not a valid tag" in last and "Traceback" not in init.stderr
    assert not [path for _, path in liar.seen if "/manifests/" in path or "/blobs/" in path]
    assert sorted(p.name for p in pod.share.iterdir()) == ["bin", "inputs", "runs"]  # nothing written elsewhere
    assert list((pod.share / "inputs").iterdir()) == []


# -- awaited inputs: input-wait and input-count (docs/annotations.md, Fan-out and fan-in) ------------


def test_a_pull_with_input_wait_waits_for_the_count_of_matches_then_pulls_them_all(pod, client, registry, repo,
                                                                                    tmp_path):
    """The consumer starts beside its producers: it must gather all 3 shards, never the 1 there at its start."""
    produce(client, registry, repo, "run-0", tmp_path, text="0\n")
    pod.inputs, pod.input_keys = [f"{repo}:run-*"], [PREFIX + "input-uri"]
    pod.input_counts, pod.input_wait = [3], 60
    init = pod.start_init()
    wait_for(lambda: (pod.share / "bin" / "oras-wrap").exists())
    time.sleep(1)  # a few looks find 1 of 3
    for i in (1, 2):
        produce(client, registry, repo, f"run-{i}", tmp_path, text=f"{i}\n")
    done = init.wait_done(timeout=60)
    assert done.returncode == 0, done.stderr
    assert (f"kubectl-oras: waiting for inputs: annotation {PREFIX}input-uri: {repo}:run-* matches 1 of the 3 tags "
            "expected: run-0; giving up in 60 s" in done.stderr), done.stderr
    assert "kubectl-oras: every input is there after " in done.stderr
    assert f"input-uri: {repo}:run-* pulls 3 tags: run-0, run-1, run-2\n" in done.stderr
    assert sorted(p.name for p in (pod.share / "inputs").iterdir()) == ["run-0", "run-1", "run-2"]


def test_at_the_bound_the_pull_fails_naming_each_input_still_missing(pod, client, registry, repo, tmp_path):
    produce(client, registry, repo, "run-0", tmp_path)
    produce(client, registry, f"{repo}-plain", "v1", tmp_path)
    pod.inputs = [f"{repo}:run-*", f"{repo}-plain:v2"]
    pod.input_keys = [PREFIX + "input-uri", PREFIX + "input-uri_1"]
    pod.input_counts, pod.input_wait = [2, None], 2
    started = time.monotonic()
    init = pod.init()
    assert init.returncode == 1 and time.monotonic() - started < 30
    last = init.stderr.strip().splitlines()[-1]
    assert last.startswith("kubectl-oras pull: error: inputs still missing after 2 s (input-wait): "), last
    assert last.endswith(
        f"annotation {PREFIX}input-uri: {repo}:run-* matches 1 of the 2 tags expected: run-0; "
        f"annotation {PREFIX}input-uri_1: {repo}-plain:v2 is not there (tags in {repo}-plain: v1)"), last
    assert list((pod.share / "inputs").iterdir()) == []


def test_more_matches_than_the_count_fail_at_once_naming_the_count(pod, client, registry, repo, tmp_path):
    for i in range(4):
        produce(client, registry, repo, f"run-{i}", tmp_path)
    pod.inputs, pod.input_keys = [f"{repo}:run-*"], [PREFIX + "input-uri_3"]
    pod.input_counts, pod.input_wait = [3], 600
    started = time.monotonic()
    init = pod.init()
    assert init.returncode == 1 and time.monotonic() - started < 30  # no waiting for fewer
    assert init.stderr.strip().splitlines()[-1] == (
        f"kubectl-oras pull: error: annotation {PREFIX}input-count_3: {repo}:run-* matches 4 tags, more than the 3 "
        "expected (run-0, run-1, run-2, run-3): nothing was pulled; remove the stale tags, or give each run its own "
        "tag prefix")
    assert list((pod.share / "inputs").iterdir()) == []


def test_a_count_without_input_wait_fails_at_once_when_fewer_match(pod, client, registry, repo, tmp_path):
    for i in range(2):
        produce(client, registry, repo, f"run-{i}", tmp_path)
    pod.inputs, pod.input_keys, pod.input_counts = [f"{repo}:run-*"], [PREFIX + "input-uri"], [3]
    init = pod.init()
    assert init.returncode == 1
    assert init.stderr.strip().splitlines()[-1] == (
        f"kubectl-oras pull: error: annotation {PREFIX}input-uri: {repo}:run-* matches 2 of the 3 tags expected: "
        "run-0, run-1")
    assert "waiting for inputs" not in init.stderr


def test_a_step_timeout_shorter_than_input_wait_ends_the_wait_naming_what_is_missing(pod, client, registry, repo,
                                                                                      tmp_path):
    produce(client, registry, repo, "run-0", tmp_path)
    pod.inputs, pod.input_keys = [f"{repo}:run-*"], [PREFIX + "input-uri"]
    pod.input_counts, pod.input_wait, pod.timeout = [2], 600, 3
    started = time.monotonic()
    init = pod.init()
    assert init.returncode == 1 and time.monotonic() - started < 30
    last = init.stderr.strip().splitlines()[-1]
    assert last.startswith("kubectl-oras pull: error: inputs still missing after "), last
    assert last.endswith(f" s (the step's timeout): annotation {PREFIX}input-uri: {repo}:run-* matches 1 of the 2 "
                         "tags expected: run-0"), last
