"""The lineage walk and its three drawings, over a graph given as plain data."""

from __future__ import annotations

from kubectl_oras.provenance.lineage import Artifact, as_data, as_dot, as_tree, split_name, walk
from kubectl_oras.provenance.record import Input

D = {name: f"sha256:{c * 64}" for name, c in (("prep", "1"), ("left", "2"), ("right", "3"), ("join", "4"))}
GRAPH = {
    D["join"]: Artifact("", D["join"], "Job/join pod join-1", "img@sha256:" + "9" * 64,
                        (Input("exp/left:1", D["left"]), Input("exp/right:1", D["right"])), True),
    D["left"]: Artifact("", D["left"], "Job/left pod left-1", "", (Input("exp/prep:1", D["prep"]),), True),
    D["right"]: Artifact("", D["right"], "Job/right pod right-1", "", (Input("exp/prep:1", D["prep"]),), True),
    D["prep"]: Artifact("", D["prep"], "pushed by context lab", "", (), True),
}


def read_from(graph: dict[str, Artifact], asked: list[tuple[str, str]]):
    def read(repository: str, reference: str) -> Artifact:
        asked.append((repository, reference))
        if reference == "1" and repository == "exp/join":
            reference = D["join"]
        found = graph.get(reference)
        return found if found else Artifact("", reference, problem="gone from the registry")
    return read


def test_a_shared_input_is_read_once_and_drawn_once():
    asked: list[tuple[str, str]] = []
    lineage = walk("exp/join:1", read_from(GRAPH, asked))
    assert asked == [("exp/join", "1"), ("exp/left", D["left"]), ("exp/right", D["right"]), ("exp/prep", D["prep"])]
    tree = as_tree(lineage).splitlines()
    assert tree[0] == f"exp/join:1 {D['join'][:19]}… (Job/join pod join-1, image img@sha256:{'9' * 64})"
    assert [line.split(" sha256")[0] for line in tree[1:]] == [
        "├── exp/left:1", "│   └── exp/prep:1", "└── exp/right:1", "    └── exp/prep:1"]
    assert tree[-1].endswith("(shown above)") and "pushed by context lab" in tree[2]


def test_a_cycle_ends_the_walk():
    looped = {D["left"]: Artifact("", D["left"], inputs=(Input("a:1", D["right"]),)),
              D["right"]: Artifact("", D["right"], inputs=(Input("b:1", D["left"]),))}
    lineage = walk(f"a@{D['left']}", read_from(looped, []))
    assert list(lineage.artifacts) == [D["left"], D["right"]]
    assert "(shown above)" in as_tree(lineage)


def test_json_lists_each_artifact_with_its_inputs_and_a_missing_one_says_why():
    broken = {**GRAPH}
    del broken[D["prep"]]
    data = as_data(walk("exp/join:1", read_from(broken, [])))
    assert data["root"] == D["join"]
    by_digest = {a["digest"]: a for a in data["artifacts"]}
    assert by_digest[D["left"]]["inputs"] == [{"name": "exp/prep:1", "digest": D["prep"]}]
    assert by_digest[D["prep"]]["problem"] == "gone from the registry"
    assert by_digest[D["join"]]["image"] == "img@sha256:" + "9" * 64


def test_dot_has_an_edge_per_input():
    dot = as_dot(walk("exp/join:1", read_from(GRAPH, [])))
    assert dot.startswith("digraph lineage {") and dot.endswith("}")
    assert f'"{D["join"]}" -> "{D["left"]}";' in dot and f'"{D["right"]}" -> "{D["prep"]}";' in dot
    assert dot.count("->") == 4


def test_a_name_splits_into_repository_and_reference():
    assert split_name("a/b:c") == ("a/b", "c")
    assert split_name(f"a/b@{D['prep']}") == ("a/b", D["prep"])
    assert split_name("a/b") == ("a/b", "latest")
