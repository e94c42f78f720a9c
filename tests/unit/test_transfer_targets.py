"""Which registry a transfer goes to (kubectl_oras/transfers/: the options parsed once, a reference
located once), and the review's faults fed exactly: -r with a reference naming another host,
KUBECTL_ORAS_REGISTRY against an explicit --cache, a cache error said about the cache with its
class kept, the engine naming a cache rather than the tunnel's address, names that cannot be
names, empty kubeconfig files, status's auth line."""

from __future__ import annotations

import pytest

from kubectl_oras.cluster.caches import summary
from kubectl_oras.errors import OrasError
from kubectl_oras.kube.api import ORAS_CACHES, InvalidName
from kubectl_oras.kube.config import merge_kubeconfigs
from kubectl_oras.oci.client import RegistryClient
from kubectl_oras.oci.errors import InvalidReference, LocalPathError, NotFound, RegistryUnreachable
from kubectl_oras.transfers.options import TransferOptions, transfer_options
from kubectl_oras.transfers.places import Place, locate, place_of
from kubectl_oras.transfers.session import about_cache

ENV = {"KUBECTL_ORAS_REGISTRY": "env.example:5000"}


def options(environ=None, **given) -> TransferOptions:
    return transfer_options(**given, environ={} if environ is None else environ)


@pytest.mark.parametrize("reference, registry, cache, environ, expected", [
    ("metric/x:v1", None, None, {}, Place(cache="oras")),  # nothing named: the default cache
    ("metric/x:v1", None, "results", {}, Place(cache="results")),
    ("metric/x:v1", "r.example:5000", None, {}, Place(registry="r.example:5000")),
    ("metric/x:v1", None, None, ENV, Place(registry="env.example:5000")),  # the environment, when no flag says otherwise
    ("metric/x:v1", None, "results", ENV, Place(cache="results")),  # an explicit --cache beats the environment
    ("h.example:5000/metric/x:v1", None, None, ENV, Place(registry="h.example:5000")),  # the reference's own host beats it
])
def test_where_a_command_goes(reference, registry, cache, environ, expected):
    where = locate(reference, options(environ, registry=registry, cache=cache))
    assert where.place == expected
    assert where.name == reference if expected.cache else where.name.startswith(expected.registry + "/")


def test_a_command_without_a_reference_goes_where_the_options_say():
    assert place_of(options(ENV)) == Place(registry="env.example:5000")
    assert place_of(options(ENV, cache="results")) == Place(cache="results")
    assert place_of(options()) == Place(cache="oras")


def test_cache_with_a_registry_is_refused_not_one_of_them_ignored():
    with pytest.raises(OrasError, match="give --registry or --cache, not both"):
        options(registry="r.example:5000", cache="oras")
    with pytest.raises(OrasError, match="names the registry h.example:5000: drop h.example:5000/ to use --cache oras"):
        locate("h.example:5000/metric/x:v1", options(cache="oras"))
    with pytest.raises(OrasError, match="names the registry prod.example.com and --registry names r.example:5000"):
        locate("prod.example.com/metric/x:v1", options(registry="r.example:5000"))


def test_the_apis_default_cache_is_not_an_explicit_one():
    """The API always has a cache name: a registry, or a host in the reference, still wins."""
    api = TransferOptions(registry=None, default_cache="results")
    assert locate("metric/x:v1", api).place == Place(cache="results")
    assert locate("h.example:5000/metric/x:v1", api).place == Place(registry="h.example:5000")
    assert locate("metric/x:v1", TransferOptions(registry="r.example:5000", default_cache="results")).place == \
        Place(registry="r.example:5000")


def test_a_registry_given_apart_is_in_the_reference_and_a_cache_is_not():
    assert str(locate("metric/mis:v1", options(registry="r.example:5000")).reference) == "r.example:5000/metric/mis:v1"
    assert str(locate("h.example:5000/metric/mis:v1", options()).reference) == "h.example:5000/metric/mis:v1"
    through_a_cache = locate("metric/hwloc:iter-0", options())
    assert through_a_cache.name == "metric/hwloc:iter-0" and through_a_cache.reference.registry == ""
    assert locate("metric/hwloc", options(), default_tag=None).reference.tag is None


def test_a_reference_that_cannot_be_one_is_refused_before_anything_is_opened():
    with pytest.raises(InvalidReference, match="invalid reference 'Metric/X:v1'"):
        locate("Metric/X:v1", options())
    with pytest.raises(InvalidReference, match="registry host 'bad_host:x'"):
        locate("bad_host:x/metric/x:v1", options())


def test_a_timeout_that_cannot_be_one_names_its_option_or_variable():
    with pytest.raises(OrasError, match=r"^--timeout: must be more than zero, not '0s'$"):
        options(timeout="0s")
    with pytest.raises(OrasError, match=r"^--read-timeout or KUBECTL_ORAS_READ_TIMEOUT: 'soon' is not a duration"):
        options({"KUBECTL_ORAS_READ_TIMEOUT": "soon"}, read_timeout="soon")
    limits = options(timeout="90s", connect_timeout="2s").timeouts
    assert (limits.total, limits.connect, limits.read) == (90, 2, 30)


def test_an_error_through_a_cache_keeps_its_class_and_says_the_cache():
    missing = NotFound("pull metric/x:nope: not found: manifest unknown; tags in metric/x: v1", status=404,
                       codes=("MANIFEST_UNKNOWN",))
    said = about_cache(missing, "cache lab/oras", None)
    assert type(said) is NotFound and (said.status, said.codes) == (404, ("MANIFEST_UNKNOWN",))
    assert str(said) == "pull metric/x:nope: not found: manifest unknown; tags in metric/x: v1 (cache lab/oras)"
    assert str(missing).endswith("v1")  # the original is left as it was
    named = RegistryUnreachable("list repositories of cache lab/oras: refused", refused=True)
    assert about_cache(named, "cache lab/oras", None) is named  # nothing to add
    cut = about_cache(named, "cache lab/oras", "port-forward to pod lab/oras-0: the stream ended with code 1006")
    assert isinstance(cut, RegistryUnreachable) and cut.refused
    assert str(cut).endswith("(port-forward: port-forward to pod lab/oras-0: the stream ended with code 1006)")
    local = LocalPathError("push: hwloc.xml: no such file")
    assert about_cache(local, "cache lab/oras", None) is local  # a local file's error is not the cache's


def test_the_engine_names_a_registry_by_its_name_not_the_address_it_connects_to(unused_port):
    client = RegistryClient(f"127.0.0.1:{unused_port}", plain_http=True, retries=0, name="cache lab/oras")
    with pytest.raises(RegistryUnreachable) as e:
        client.list_tags("metric/x")
    assert str(e.value).startswith("list tags of metric/x: cannot reach registry cache lab/oras: ")
    assert f":{unused_port}" not in str(e.value)
    direct = RegistryClient(f"127.0.0.1:{unused_port}", plain_http=True, retries=0)
    with pytest.raises(RegistryUnreachable, match=f"list tags of 127.0.0.1:{unused_port}/metric/x: cannot reach "
                                                  f"registry 127.0.0.1:{unused_port}: "):
        direct.list_tags("metric/x")


@pytest.fixture
def unused_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def test_a_tag_given_to_tags_or_none_to_rm_is_refused_before_a_cache_is_opened(tmp_path, monkeypatch):
    """No cluster is configured here: opening the cache would fail otherwise, not name the reference."""
    from kubectl_oras.transfers.session import Session

    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    with Session(options()) as session:
        with pytest.raises(InvalidReference, match=r"^'metric/x:v1': give a repository without a tag or digest$"):
            session.tags(session.locate("metric/x:v1", default_tag=None))
        with pytest.raises(InvalidReference, match=r"^'metric/x': say which tag or digest to delete"):
            session.delete(session.locate("metric/x", default_tag=None))
    with Session(options(registry="r.example:5000")) as session:
        with pytest.raises(InvalidReference, match=r"^'metric/x:v1': give a repository"):
            session.tags(session.locate("metric/x:v1", default_tag=None))
