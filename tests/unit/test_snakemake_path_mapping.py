"""The Snakemake plugin's mapping of a file to repository:tag (docs/snakemake.md): every path a
workflow may name maps to a valid reference, reads back to itself, and no two paths share one."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from snakemake_storage_plugin_oras import StorageProvider
from snakemake_storage_plugin_oras.mapping import (
    Artifact,
    UnmappablePath,
    artifact_of,
    directory_name,
    file_name,
    query_of,
)

from kubectl_oras.oci.reference import is_valid_repository, is_valid_tag, parse_name, registry_host_of

# Names as people write them: upper case, spaces, '+', several dots, underscores, dashes, accents.
_name = st.text(alphabet=st.sampled_from("aAzZ09 +._-é{}~ß"), min_size=1, max_size=12).filter(
    lambda n: n not in (".", ".."))
_path = st.lists(_name, min_size=2, max_size=5).map("/".join)


@settings(max_examples=400, deadline=None)
@given(_path)
def test_every_path_maps_to_a_reference_that_reads_back_to_it(path):
    artifact = artifact_of(f"oras://{path}")
    assert is_valid_repository(artifact.repository) and is_valid_tag(artifact.tag)
    assert registry_host_of(artifact.reference) is None  # never taken for a registry host
    assert parse_name(artifact.reference, default_tag=None)[:2] == (artifact.repository, artifact.tag)
    assert query_of(artifact) == f"oras://{path}"


@settings(max_examples=300, deadline=None)
@given(_path, _path)
def test_two_paths_never_map_to_one_artifact(first, second):
    if first != second:
        assert artifact_of(f"oras://{first}") != artifact_of(f"oras://{second}")


def test_the_escapes_that_look_alike_stay_apart():
    # '_' is written '__', a space '_20': the name "a_20" and the name "a " must not meet.
    names = ["a_20", "a ", "a__", "a_", "A", "a", ".a", "_2ea", "-a", "a.b", "a+b", "a_2bb"]
    tags = [artifact_of(f"oras://wf/{n}").tag for n in names]
    assert len(set(tags)) == len(names)
    directories = ["results", "Results", "results.v2", "results-v2", "results_v2", "x__726573756c7473"]
    repositories = [artifact_of(f"oras://{d}/f").repository for d in directories]
    assert len(set(repositories)) == len(directories)


def test_the_documented_examples():
    assert artifact_of("oras://my-workflow/results/Sample A.txt") == Artifact("my-workflow/results", "Sample_20A.txt")
    assert artifact_of("oras://wf/data/my file+1.txt").tag == "my_20file_2b1.txt"
    assert artifact_of("oras://wf/Sample A/x").repository == "wf/sample-a__53616d706c652041"
    assert artifact_of("oras://wf/run_1/a_b.tsv") == Artifact("wf/run_1", "a__b.tsv")


@pytest.mark.parametrize(("query", "said"), [
    ("s3://wf/a.txt", "starts with oras://"),
    ("oras://a.txt", "give a root directory and a file"),
    ("oras://wf//a.txt", "empty, '.' or '..'"),
    ("oras://wf/../a.txt", "empty, '.' or '..'"),
    ("oras://localhost/a.txt", "reads as a registry host"),
    ("oras://wf/" + "N" * 129, "over the registry's 128"),
    ("oras://" + "/".join(["d" * 60] * 5) + "/f", "over the registry's 255"),
])
def test_a_path_that_cannot_map_is_refused_naming_it(query, said):
    result = StorageProvider.is_valid_query(query)
    assert not result
    assert said in result.reason and repr(query) in result.reason
    with pytest.raises(UnmappablePath):
        artifact_of(query)


def test_a_wildcard_query_is_valid():
    assert StorageProvider.is_valid_query("oras://wf/results/{sample}.txt")


def test_tags_and_directories_not_written_by_the_plugin_are_refused_on_reading():
    with pytest.raises(UnmappablePath, match="not a file name written by this plugin"):
        file_name("a_zz")
    with pytest.raises(UnmappablePath, match="not a directory written by this plugin"):
        directory_name("a__xyz")


def test_the_table_in_docs_snakemake_md_is_what_the_plugin_does():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "snakemake.md").read_text()
    rows = [line.split("|")[1:3] for line in doc.splitlines() if line.startswith("| `") and "my-workflow/" in line]
    assert len(rows) == 4
    for file, artifact in rows:
        path = file.strip().split("`")[1]
        assert artifact_of(f"oras://my-workflow/{path}").reference == artifact.strip().strip("`")
