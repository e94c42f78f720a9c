"""Reading a user's object field by field: one set of readers for the pod mutation and the
controller's OrasCache, each refusing with its own error class, naming the field and what was there."""

from __future__ import annotations

import pytest

from controller.core.cache_spec import InvalidCache, cache_spec
from kubectl_oras.errors import OrasError
from kubectl_oras.fields import FieldReader, shown
from kubectl_oras.pods.injection import InvalidPod, check_pod


class Refused(OrasError):
    pass


READ = FieldReader(Refused)


def refusal(read, *args, **kwargs) -> str:
    with pytest.raises(Refused) as e:
        read(*args, **kwargs)
    return str(e.value)


def test_absent_fields_read_as_empty_or_the_default():
    assert READ.map(None, "spec") == {}
    assert READ.maps(None, "spec.volumes") == []
    assert READ.string(None, "spec.image") is None
    assert READ.flag(None, "spec.deploy", default=True) is True
    assert READ.flag(None, "spec.deploy", default=False) is False


def test_fields_of_the_right_kind_are_themselves():
    spec = {"a": 1}
    assert READ.map(spec, "spec") is spec
    volumes = [{"name": "v"}, {}]
    assert READ.maps(volumes, "spec.volumes") is volumes
    assert READ.string("img", "spec.image") == "img"
    assert READ.flag(False, "spec.deploy", default=True) is False


@pytest.mark.parametrize("value, message", [
    ([], "spec must be a map, not []"),
    ("oops", "spec must be a map, not 'oops'"),
    (3, "spec must be a map, not 3"),
    (True, "spec must be a map, not true"),
])
def test_a_map_that_is_not_one_is_refused_naming_the_field_and_the_value(value, message):
    assert refusal(READ.map, value, "spec") == message


@pytest.mark.parametrize("value, message", [
    ({"name": "v"}, 'spec.volumes must be a list, not {"name": "v"}'),
    ("v", "spec.volumes must be a list, not 'v'"),
    ([{}, None], "spec.volumes[1] must be a map, not null"),
    ([{}, {}, "v"], "spec.volumes[2] must be a map, not 'v'"),
])
def test_a_list_of_maps_that_is_not_one_is_refused_naming_the_item(value, message):
    assert refusal(READ.maps, value, "spec.volumes") == message


@pytest.mark.parametrize("value", ["", 5, False, ["img"]])
def test_a_string_must_be_one_and_not_empty(value):
    assert refusal(READ.string, value, "spec.image") == "spec.image must be a non-empty string"


@pytest.mark.parametrize("value, message", [
    ("yes", "spec.deploy must be true or false, not 'yes'"),
    ("true", "spec.deploy must be true or false, not 'true'"),
    (1, "spec.deploy must be true or false, not 1"),
    ([True], "spec.deploy must be true or false, not [true]"),
])
def test_a_flag_must_be_true_or_false(value, message):
    assert refusal(READ.flag, value, "spec.deploy", default=True) == message


def test_a_long_value_is_cut_short_in_the_message():
    assert shown("x" * 100) == repr("x" * 57)[:57] + "..."
    assert len(shown(list(range(100)))) == 60


def test_each_caller_gets_its_own_error_with_the_same_words():
    cache = {"apiVersion": "cache.converged-computing.github.io/v1alpha1", "kind": "OrasCache",
             "metadata": {"name": "c", "namespace": "lab", "uid": "u"}, "spec": {"storage": []}}
    with pytest.raises(InvalidCache) as refused_cache:
        cache_spec(cache)
    with pytest.raises(InvalidPod) as refused_pod:
        check_pod({"metadata": {}, "spec": []})
    # the OrasCache's messages quote what was there as the pod's do (they said "not list")
    assert str(refused_cache.value) == "spec.storage must be a map, not []"
    assert str(refused_pod.value) == "spec must be a map, not []"
    with pytest.raises(InvalidCache, match=r"^spec.deploy must be true or false, not \{\"a\": 1\}$"):
        cache_spec({**cache, "spec": {"deploy": {"a": 1}}})
