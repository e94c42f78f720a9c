"""Every command example in README.md and docs/*.md is run by a test or said not to be runnable here,
with the reason: tests/support/doc_examples.py's table ``WHERE`` names each one, and an example added
without an entry (or an entry whose example has gone) fails here, saying what to add."""

from __future__ import annotations

from tests.support.doc_examples import REPO, WHERE, Example, all_examples, examples_of, substitute

RUNNERS = ("tests/cli/test_docs_examples.py", "tests/e2e/test_docs_commands.py", "tests/cli/test_python_api.py")


def test_every_example_in_the_docs_is_run_or_said_not_runnable():
    unlisted = [e for e in all_examples() if e.where() is None]
    assert not unlisted, (
        "command examples no test runs; add each to WHERE in tests/support/doc_examples.py, its value "
        "LOOPBACK (runs in tier 1 against a registry on loopback), LOCAL_CLUSTER (tier 3, on the tests' cluster) "
        "or the reason it cannot run here (\"not runnable here: …\"):\n"
        + "\n".join(f"    ({e.doc!r}, {e.key!r}): LOOPBACK,  # {e.doc}:{e.line}" for e in unlisted))


def test_no_entry_outlives_its_example():
    present = {(e.doc, e.key) for e in all_examples()}
    stale = [entry for entry in WHERE if entry not in present]
    assert not stale, f"WHERE in tests/support/doc_examples.py names examples the docs no longer have: {stale}"


def test_each_entry_is_a_runner_or_a_reason():
    for (doc, key), where in WHERE.items():
        assert where in RUNNERS or where.startswith("not runnable"), (doc, key, where)
        assert where not in RUNNERS or (REPO / where).is_file(), where


def test_the_extraction_takes_every_kind_of_block_and_joins_continued_lines():
    text = "\n".join([
        "# Title", "", "```sh", "kubectl oras push a:b x \\", "    -r h:1   # a comment", "# only a comment", "",
        "kubectl oras ls", "```", "", "```console", "$ kubectl oras tags a", "v1", "```", "",
        "```yaml", "kind: Job", "```", "", "```", "kubectl get oc", "```", "", "```", "error: a message", "```", "",
        "- a list item", "", "    its continued paragraph, not code", "",
        "Indented:", "", "    kubectl describe oc oras   # why", "", "```python", "import os", "print(os)", "```", "",
        "    with kubectl_oras.session() as oras:", "        oras.tags('a')", "",
    ])
    found = examples_of("doc.md", text)
    assert [(e.line, e.language, e.key) for e in found] == [
        (4, "sh", "kubectl oras push a:b x -r h:1"),
        (8, "sh", "kubectl oras ls"),
        (12, "sh", "kubectl oras tags a"),
        (21, "sh", "kubectl get oc"),
        (34, "sh", "kubectl describe oc oras"),
        (37, "python", "import os"),
        (41, "python", "with kubectl_oras.session() as oras:"),
    ]
    assert found[-1].text == "with kubectl_oras.session() as oras:\n    oras.tags('a')\n"
    assert found[0].block == found[1].block == 4


def test_an_example_without_an_entry_is_reported_with_the_line_to_add():
    (new,) = examples_of("docs/new.md", "```sh\nkubectl oras frobnicate\n```\n")
    assert new.where() is None and new == Example("docs/new.md", 2, 2, "sh", "kubectl oras frobnicate")


def test_placeholders_are_replaced_as_whole_words_only():
    mapping = {"lab": "docs-1", "localhost:5000": "127.0.0.1:4321"}
    assert substitute("kubectl oras pull a -n lab -r localhost:5000", mapping) == \
        "kubectl oras pull a -n docs-1 -r 127.0.0.1:4321"
    assert substitute('session(namespace="lab") metric/lab:lab-1 lab.yaml', mapping) == \
        'session(namespace="docs-1") metric/lab:lab-1 lab.yaml'
