"""What `cp` decides before it opens anything: each side's cache and namespace, its credentials,
the destination's tag, whether both sides are one registry; and which file a pull of several
artifacts refuses to replace."""

import pytest

from kubectl_oras.cli.moving import side_credentials, side_options, split_cache
from kubectl_oras.errors import OrasError
from kubectl_oras.oci.errors import LocalPathError
from kubectl_oras.oci.pull import Move, refuse_replacing
from kubectl_oras.transfers.copying import destination_of, same_registry
from kubectl_oras.transfers.options import TransferOptions
from kubectl_oras.transfers.places import locate
from kubectl_oras.transfers.session import Session


@pytest.mark.parametrize(("given", "expected"), [
    (None, (None, "lab")), ("oras", ("oras", "lab")), ("prod/results", ("results", "prod")),
])
def test_a_cache_flag_names_a_cache_and_maybe_its_namespace(given, expected):
    assert split_cache("--from-cache", given, "lab") == expected


@pytest.mark.parametrize("given", ["a/b/c", "Results", "prod/", "/oras", "Prod/oras"])
def test_a_cache_flag_that_cannot_name_one_is_refused_naming_the_flag(given):
    with pytest.raises(OrasError, match=rf"^--to-cache '{given}': give a cache NAME or NAMESPACE/NAME$"):
        split_cache("--to-cache", given, None)


def test_each_side_has_its_own_credentials_and_half_a_pair_is_refused():
    creds = side_credentials("from", {"ORAS_FROM_USER": "u", "ORAS_FROM_PASS": "p", "ORAS_TO_USER": "x"})
    assert (creds.username, creds.password) == ("u", "p")
    assert side_credentials("to", {"ORAS_USER": "u", "ORAS_PASS": "p"}) is None  # the session's fallback then
    with pytest.raises(OrasError, match="^ORAS_TO_USER is set and ORAS_TO_PASS is not: set both, or neither$"):
        side_credentials("to", {"ORAS_TO_USER": "x"})
    with pytest.raises(OrasError, match="^ORAS_FROM_PASS is set and ORAS_FROM_USER is not"):
        side_credentials("from", {"ORAS_FROM_PASS": "x"})


REGISTRY = TransferOptions()


def test_a_destination_without_a_tag_takes_the_sources():
    src = locate("r.example:5000/metric/hwloc:iter-7", REGISTRY)
    assert str(destination_of(src, locate("q.example:5000/team/hwloc", REGISTRY, default_tag=None)).reference) == \
        "q.example:5000/team/hwloc:iter-7"
    kept = locate("q.example:5000/team/hwloc:best", REGISTRY, default_tag=None)
    assert destination_of(src, kept) is kept
    digest = "sha256:" + "a" * 64
    by_digest = locate(f"r.example:5000/metric/hwloc@{digest}", REGISTRY, default_tag=None)
    assert destination_of(by_digest, locate("q.example:5000/team/hwloc", REGISTRY, default_tag=None)).reference.tag is None
    with pytest.raises(OrasError, match="a copy goes under a tag"):
        destination_of(src, locate(f"q.example:5000/team/hwloc@{digest}", REGISTRY, default_tag=None))


def test_one_registry_is_one_host_or_one_cache_in_one_namespace():
    lab, prod = Session(TransferOptions(namespace="lab")), Session(TransferOptions(namespace="prod"))
    here = locate("r.example:5000/a:1", REGISTRY).place
    there = locate("q.example:5000/a:1", REGISTRY).place
    cache = locate("a:1", REGISTRY).place
    assert same_registry(lab, here, prod, here) and not same_registry(lab, here, lab, there)
    assert not same_registry(lab, here, lab, cache)
    assert same_registry(lab, cache, lab, cache) and not same_registry(lab, cache, prod, cache)


def test_a_file_with_other_bytes_is_refused_and_the_same_bytes_pass(tmp_path):
    out, staged = tmp_path / "out", tmp_path / "staged"
    out.mkdir()
    staged.mkdir()
    (staged / "same.txt").write_text("1\n")
    (out / "same.txt").write_text("1\n")
    (staged / "other.txt").write_text("2\n")
    (out / "other.txt").write_text("mine\n")
    (staged / "new.txt").write_text("3\n")
    same = Move(str(staged / "same.txt"), str(out / "same.txt"), replaces=True)
    new = Move(str(staged / "new.txt"), str(out / "new.txt"), replaces=False)
    refuse_replacing([same, new], outdir=str(out), what="r/a:1")
    other = Move(str(staged / "other.txt"), str(out / "other.txt"), replaces=True)
    with pytest.raises(LocalPathError, match=rf"^{out}/other.txt: is there already and is not r/a:1's other.txt"):
        refuse_replacing([same, other], outdir=str(out), what="r/a:1")
    (out / "link.txt").symlink_to(out / "same.txt")  # a link to the very bytes: still not the artifact's file
    with pytest.raises(LocalPathError, match="link.txt: is there already"):
        refuse_replacing([Move(str(staged / "same.txt"), str(out / "link.txt"), replaces=True)], outdir=str(out),
                         what="r/a:1")


def test_a_sides_cache_takes_the_place_of_the_shared_registry_and_its_flags_add_to_the_shared_ones():
    shared = TransferOptions(registry="r.example:5000", namespace="lab", plain_http=False)
    to = side_options(shared, "--to-cache", "prod/oras", plain_http=True, insecure=False)
    assert (to.registry, to.cache, to.namespace, to.plain_http) == (None, "oras", "prod", True)
    assert locate("a/b:1", to).place.cache == "oras"
    same = side_options(shared, "--from-cache", None, plain_http=False, insecure=True)
    assert (same.registry, same.cache, same.insecure) == ("r.example:5000", None, True)
    assert locate("a/b:1", same).place.registry == "r.example:5000"
