"""What a registry or token service sends is judged field by field: a wrong shape is one error naming it."""

import pytest

from kubectl_oras.oci.auth import parse_token_answer
from kubectl_oras.oci.client import names_in_page
from kubectl_oras.oci.errors import AuthenticationFailed, RegistryError, UnsupportedArtifact
from kubectl_oras.oci.manifest import Blob, layers_of

DIGEST = "sha256:" + "b" * 64
WHAT = "pull r.example:5000/x/y:1"


def layer(**fields):
    return {"mediaType": "m", "digest": DIGEST, "size": 3, "annotations": {"k": "v"}, **fields}


def test_well_formed_layers_are_read_as_blobs():
    assert layers_of({"layers": [layer()]}, what=WHAT) == [Blob("m", DIGEST, 3, {"k": "v"})]
    assert layers_of({}, what=WHAT) == [] == layers_of({"layers": None}, what=WHAT)
    assert layers_of({"layers": [layer(annotations=None)]}, what=WHAT)[0].annotations == {}


@pytest.mark.parametrize("manifest, field", [
    ({"layers": "x"}, "layers is 'x'"),
    ({"layers": {"a": 1}}, "layers is {'a': 1}"),
    ({"layers": [None]}, "layers[0] is None"),
    ({"layers": [layer(), layer(size="lots")]}, "layers[1].size is 'lots'"),
    ({"layers": [layer(size="3")]}, "layers[0].size is '3'"),
    ({"layers": [layer(size=True)]}, "layers[0].size is True"),
    ({"layers": [layer(size=-1)]}, "layers[0].size is -1"),
    ({"layers": [layer(size=3.0)]}, "layers[0].size is 3.0"),
    ({"layers": [layer(digest=None)]}, "layers[0].digest is None"),
    ({"layers": [layer(digest="sha256:../../etc")]}, "layers[0].digest is 'sha256:../../etc'"),
    ({"layers": [layer(digest=DIGEST + "\n")]}, f"layers[0].digest is {DIGEST + chr(10)!r}"),
    ({"layers": [layer(mediaType=7)]}, "layers[0].mediaType is 7"),
    ({"layers": [layer(annotations=["k"])]}, "layers[0].annotations is ['k']"),
    ({"layers": [layer(annotations={"k": 1})]}, "layers[0].annotations['k'] is 1"),
])
def test_a_field_of_the_wrong_type_is_named(manifest, field):
    with pytest.raises(UnsupportedArtifact) as e:
        layers_of(manifest, what=WHAT)
    assert str(e.value).startswith(f"{WHAT}: the manifest's {field}, not ")


def test_a_huge_value_is_shortened_in_the_message():
    with pytest.raises(UnsupportedArtifact) as e:
        layers_of({"layers": [layer(size="x" * 10_000)]}, what=WHAT)
    assert len(str(e.value)) < 250


def test_a_listing_page_gives_its_names():
    assert names_in_page({"name": "x/y", "tags": ["a", "b"]}, "tags", what="t") == ["a", "b"]
    assert names_in_page({"name": "x/y", "tags": None}, "tags", what="t") == []  # distribution, for no tags
    assert names_in_page({}, "repositories", what="t") == []


@pytest.mark.parametrize("page, message", [
    (["a"], "not an object with 'tags' (got list)"),
    ("a", "not an object with 'tags' (got str)"),
    ({"tags": "a"}, "'tags' as 'a', not a list of names"),
    ({"tags": ["a", 1]}, "'tags' as ['a', 1], not a list of names"),
    ({"tags": {"a": "b"}}, "'tags' as {'a': 'b'}, not a list of names"),
])
def test_a_listing_page_of_another_shape_is_refused_naming_the_request(page, message):
    with pytest.raises(RegistryError) as e:
        names_in_page(page, "tags", what="list tags of r.example:5000/x/y")
    assert str(e.value).startswith("list tags of r.example:5000/x/y: ") and message in str(e.value)


@pytest.mark.parametrize("status, body, content_type, message", [
    (200, b"<html>sign in</html>", "text/html; charset=utf-8", "answered with something that is not JSON (text/html)"),
    (200, b"[]", "application/json", "answered without a token"),
    (200, b'{"token": ["x"]}', "application/json", "answered without a token"),
    (502, b"", "", "refused (502)"),
])
def test_a_token_answer_without_a_token_names_the_service_and_the_registry(status, body, content_type, message):
    with pytest.raises(AuthenticationFailed) as e:
        parse_token_answer(status, body, realm="https://auth.example/token", registry="r.example:5000",
                           have_credentials=True, what="list tags of r.example:5000/x/y", content_type=content_type)
    assert str(e.value) == ("list tags of r.example:5000/x/y: token service https://auth.example/token "
                            f"(for registry r.example:5000) {message}")


def test_a_token_is_found_under_either_name():
    for body in (b'{"token": "t"}', b'{"access_token": "t"}'):
        assert parse_token_answer(200, body, realm="r", registry="h", have_credentials=False, what="w") == "t"
