import pytest

from kubectl_oras.oci.errors import InvalidReference
from kubectl_oras.oci.reference import Reference, parse_name, parse_reference

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    "text, expected",
    [
        ("metric/hwloc:iter-0", Reference("r:5000", "metric/hwloc", "iter-0")),
        ("dinosaur/hello-world", Reference("r:5000", "dinosaur/hello-world", "latest")),
        (f"a/b@{DIGEST}", Reference("r:5000", "a/b", None, DIGEST)),
        (f"a/b:t@{DIGEST}", Reference("r:5000", "a/b", "t", DIGEST)),
        ("a__b/c.d-e:T_1.x", Reference("r:5000", "a__b/c.d-e", "T_1.x")),
    ],
)
def test_parses_repository_tag_and_digest_under_the_given_registry(text, expected):
    assert parse_reference(text, registry="r:5000") == expected


def test_host_in_the_text_is_used_when_no_registry_is_given():
    assert parse_reference("localhost:5000/x/y:1") == Reference("localhost:5000", "x/y", "1")
    assert parse_reference("registry.example/x") == Reference("registry.example", "x", "latest")


def test_digest_reference_targets_the_digest():
    assert parse_reference(f"a:t@{DIGEST}", registry="r").target == DIGEST


@pytest.mark.parametrize(
    "text, culprit",
    [
        ("Upper/case", "repository 'Upper/case'"),
        ("a/b:bad tag", "tag"),
        ("a/b:-lead", "tag '-lead'"),
        ("a/b@sha256:short", "digest 'sha256:short'"),
        ("a//b", "repository 'a//b'"),
        ("", "empty"),
        (" a", "spaces"),
    ],
)
def test_malformed_references_are_refused_naming_the_culprit(text, culprit):
    with pytest.raises(InvalidReference) as e:
        parse_reference(text, registry="r:5000")
    assert culprit in str(e.value)


def test_missing_registry_says_how_to_give_one():
    with pytest.raises(InvalidReference, match="--registry"):
        parse_reference("a/b:c")


@pytest.mark.parametrize(
    "text, culprit",
    [
        ("localhost:5000\n/x/y:1", "'localhost:5000\\n/x/y:1'"),  # a host with a newline is no host
        ("a/b:v1\n", "spaces"),
        ("a/b\n", "spaces"),
    ],
)
def test_a_newline_anywhere_in_a_reference_is_refused_naming_it(text, culprit):
    with pytest.raises(InvalidReference) as e:
        parse_reference(text)
    assert culprit in str(e.value)


@pytest.mark.parametrize(
    "text, culprit",
    [
        ("a/b:v1\n", "tag 'v1\\n'"),
        ("a/b\n", "repository 'a/b\\n'"),
        (f"a/b\n@{DIGEST}", "repository 'a/b\\n'"),
        (f"a/b@{DIGEST}\n", f"digest '{DIGEST}\\n'"),
    ],
)
def test_names_match_whole_not_up_to_a_trailing_newline(text, culprit):
    """`$` matches before a final newline: every part of the grammar is matched whole."""
    with pytest.raises(InvalidReference) as e:
        parse_name(text)
    assert culprit in str(e.value)


def test_a_huge_reference_is_quoted_cut_short_in_its_error():
    """A 250 kB input-uri annotation was said back whole, twice, in the webhook's denial and its log."""
    from kubectl_oras.oci.reference import MAX_QUOTED, parse_name

    huge = "a" * 250_000 + ":" + "!" * 10
    with pytest.raises(InvalidReference) as refused:
        parse_name(huge)
    assert len(str(refused.value)) < 3 * MAX_QUOTED and "must match" in str(refused.value)
