"""Which registry a transfer command goes to (cli/targets.py: where_to; kubectl_oras/targets.py),
and the review's faults fed exactly: -r with a reference naming another host, KUBECTL_ORAS_REGISTRY
against an explicit --cache, a cache error said about the cache, names that cannot be names, empty
kubeconfig files, status's auth line."""

from __future__ import annotations

import pytest

from kubectl_oras.cli.targets import where_to
from kubectl_oras.cluster.caches import summary
from kubectl_oras.errors import OrasError
from kubectl_oras.kube.api import ORAS_CACHES, InvalidName
from kubectl_oras.kube.config import merge_kubeconfigs
from kubectl_oras.oci.errors import InvalidReference
from kubectl_oras.targets import Target, names_a_registry

ENV = {"KUBECTL_ORAS_REGISTRY": "env.example:5000"}


@pytest.mark.parametrize("reference, registry, cache, environ, expected", [
    ("metric/x:v1", None, None, {}, (None, "oras")),  # nothing named: the default cache
    ("metric/x:v1", None, "results", {}, (None, "results")),
    ("metric/x:v1", "r.example:5000", None, {}, ("r.example:5000", "oras")),
    ("metric/x:v1", None, None, ENV, ("env.example:5000", "oras")),  # the environment, when no flag says otherwise
    ("metric/x:v1", None, "results", ENV, (None, "results")),  # an explicit --cache beats the environment
    ("h.example:5000/metric/x:v1", None, None, ENV, (None, "oras")),  # the reference's own host beats the environment
])
def test_where_a_command_goes(reference, registry, cache, environ, expected):
    where = where_to(reference, registry=registry, cache=cache, environ=environ)
    assert (where.registry, where.cache) == expected
    assert names_a_registry(reference, where.registry) == (expected[0] is not None or reference.startswith("h."))


def test_cache_with_a_registry_is_refused_not_one_of_them_ignored():
    with pytest.raises(OrasError, match="give --registry or --cache, not both"):
        where_to("metric/x:v1", registry="r.example:5000", cache="oras", environ={})
    with pytest.raises(OrasError, match="names the registry h.example:5000: drop h.example:5000/ to use --cache oras"):
        where_to("h.example:5000/metric/x:v1", registry=None, cache="oras", environ={})
    with pytest.raises(OrasError, match="names the registry prod.example.com and --registry names r.example:5000"):
        where_to("prod.example.com/metric/x:v1", registry="r.example:5000", cache=None, environ={})


def test_a_registry_given_apart_wins_so_a_reference_naming_another_host_is_refused():
    target = Target("r.example:5000", plain_http=True, insecure=False, given_registry="r.example:5000")
    with pytest.raises(InvalidReference):
        target.reference("127.0.0.1:5000/metric/mis:v1")
    assert str(target.reference("metric/mis:v1")) == "r.example:5000/metric/mis:v1"
    own = Target("h.example:5000", plain_http=True, insecure=False)  # the host came from the reference
    assert str(own.reference("h.example:5000/metric/mis:v1")) == "h.example:5000/metric/mis:v1"


class FakeForward:
    address = "127.0.0.1:40123"
    last_error: str | None = None


def test_a_message_about_the_tunnel_is_said_about_the_cache():
    from kubectl_oras.cluster.caches import CacheEndpoint
    from kubectl_oras.cluster.registry import CacheRegistry

    forward = FakeForward()
    cache = CacheRegistry(CacheEndpoint("lab", "oras", "oras", 5000, "u", "secret"), forward)  # type: ignore[arg-type]
    said = cache.explain("pull 127.0.0.1:40123/metric/x:nope: not found: manifest unknown; tags in metric/x: v1")
    assert said == "pull metric/x:nope: not found: manifest unknown; tags in metric/x: v1 (cache lab/oras)"
    assert cache.explain("cannot reach registry 127.0.0.1:40123: refused") == "cannot reach registry cache lab/oras: refused"
    forward.last_error = "port-forward to pod lab/oras-0: the stream ended with code 1006"
    assert cache.explain("a read timed out").endswith("(port-forward: port-forward to pod lab/oras-0: the stream ended "
                                                      "with code 1006)")
    assert "secret" not in repr(cache.endpoint)


@pytest.mark.parametrize("name", ["", ".", ".."])
def test_a_name_that_cannot_be_one_is_a_one_line_error(name):
    with pytest.raises(InvalidName, match="cannot name an object or a namespace|give a namespace") as e:
        ORAS_CACHES.path(namespace=name, name="x")
    assert isinstance(e.value, OrasError) and isinstance(e.value, ValueError)
    with pytest.raises(InvalidName):
        ORAS_CACHES.path(namespace="lab", name=name)


def test_empty_kubeconfig_files_are_skipped_and_not_given_to_the_loader():
    config = {"contexts": [{"name": "a", "context": {"cluster": "a", "user": "a"}}], "current-context": "a"}
    merged = merge_kubeconfigs([("empty.yaml", None), ("a.yaml", config), ("comments.yaml", None)])
    assert merged.current == "a" and merged.loaded == ("a.yaml",)
    assert merged.files == ("empty.yaml", "a.yaml", "comments.yaml")


def test_status_says_auth_from_the_spec_not_from_whether_the_secret_exists_yet():
    pending = {"metadata": {"name": "a", "namespace": "lab"}, "spec": {},
               "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "InvalidSpec", "message": "x"}]}}
    assert summary(pending)["auth"] is True
    off = {"metadata": {"name": "b", "namespace": "lab"}, "spec": {"auth": {"enabled": False}}, "status": {}}
    assert summary(off)["auth"] is False


def test_the_default_cache_is_the_annotations_default():
    from kubectl_oras import targets
    from kubectl_oras.cluster import registry
    from kubectl_oras.pods.annotations import DEFAULT_CACHE

    assert targets.DEFAULT_CACHE == registry.DEFAULT_CACHE == DEFAULT_CACHE
