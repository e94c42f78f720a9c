"""The rules every part agrees on about an OrasCache (kubectl_oras/orascache.py), and that each
reader applies them: the `oras-cache` annotation, the controller's reading of a cache, and the
object `create-cache` makes refuse and accept the same names."""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal

import pytest

from controller.core.cache_auth import new_credentials
from controller.core.cache_spec import InvalidCache, cache_spec
from kubectl_oras.cluster.caches import CacheError, cache_object
from kubectl_oras.oci.auth import Credentials
from kubectl_oras.orascache import (
    MAX_NAME,
    auth_secret_name,
    endpoint_port,
    is_cache_name,
    quantity,
    registry_host,
    registry_secret_name,
)
from kubectl_oras.pods.annotations import PREFIX, InvalidAnnotations, parse_settings

# -- the name ---------------------------------------------------------------------------------

GOOD = ["oras", "a", "results-2", "x" * 52]
BAD = ["1abc", "x" * 53, "x" * 70, "a.b", "-a", "a-", "A", "a_b", "", "a b", "oras\n", "é"]


def test_the_longest_name_is_52_characters():
    # the StatefulSet's pods carry controller-revision-hash: NAME-<10 characters>, a label value of at most 63
    assert MAX_NAME == 52 and len("x" * MAX_NAME + "-" + "h" * 10) == 63


@pytest.mark.parametrize("name", GOOD)
def test_a_good_name_is_taken_by_the_annotation_the_controller_and_create_cache(name):
    assert is_cache_name(name)
    assert parse_settings({"oras-cache": name, "input-uri": "a/b:c"}).cache == name
    assert cache_spec({"metadata": {"name": name, "namespace": "lab"}, "spec": {}}).name == name
    assert cache_object(name, "lab")["metadata"]["name"] == name


@pytest.mark.parametrize("name", BAD)
def test_a_bad_name_is_refused_by_the_annotation_the_controller_and_create_cache(name):
    assert not is_cache_name(name)
    rule = "it names its registry's Service and StatefulSet, so it must be a DNS label of at most 52 characters"
    if name.strip():  # an empty annotation is refused as empty, before its value is read
        with pytest.raises(InvalidAnnotations) as refused:
            parse_settings({"oras-cache": name, "input-uri": "a/b:c"})
        said = str(refused.value)
        assert said.startswith(f"annotation {PREFIX}oras-cache: {name!r} cannot name an OrasCache") and rule in said
        assert "\n" not in said  # one line, whatever the name holds
    with pytest.raises(InvalidCache, match=f"^metadata.name {re.escape(repr(name))} cannot name a cache: {rule}"):
        cache_spec({"metadata": {"name": name, "namespace": "lab"}, "spec": {}})
    with pytest.raises(CacheError, match=f"^{re.escape(repr(name))} cannot name a cache: {rule}"):
        cache_object(name, "lab")


def test_names_the_annotation_took_before_and_the_controller_never_ran_are_refused():
    """`1abc` and a 60-character name were valid DNS labels, so the annotation took them; no
    cache of such a name ever runs a registry, and the pod waited for one that never came."""
    for name in ("1abc", "y" * 60):
        with pytest.raises(InvalidAnnotations, match="cannot name an OrasCache"):
            parse_settings({"oras-cache": name, "input-uri": "a/b:c"})


# -- where its registry answers ---------------------------------------------------------------

def test_the_registry_host_is_the_service_and_its_port_reads_back():
    host = registry_host("oras", "lab")
    assert host == "oras.lab.svc:5000" and endpoint_port(host) == 5000
    assert endpoint_port(registry_host("oras", "lab", 5443)) == 5443
    assert cache_spec({"metadata": {"name": "oras", "namespace": "lab"}, "spec": {}}).endpoint == host
    for odd in (None, 5000, "oras.lab.svc", "oras.lab.svc:0", "oras.lab.svc:65536", "oras.lab.svc:x"):
        assert endpoint_port(odd) == 5000, odd


# -- its Secrets ------------------------------------------------------------------------------

DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def test_the_auth_secret_the_controller_makes_is_what_the_agents_read_from_their_environment():
    """The agents take the auth Secret by envFrom: its keys are the engine's variables."""
    made = new_credentials()
    for push in (True, False):
        assert Credentials.from_env(push=push, environ=made) == Credentials(made["ORAS_USER"], made["ORAS_PASS"])


def test_secret_names_for_a_short_cache_name():
    assert auth_secret_name("oras") == "oras-oras-auth"
    assert registry_secret_name("oras") == "oras-oras-registry"


@pytest.mark.parametrize("cache", [
    "a" * 253,
    "a" * 240,
    "a" * 233 + "." + "a" * 19,  # the auth name's cut lands on a dot
    "a" * 229 + "." + "a" * 23,  # the htpasswd name's
    "b" * 225 + "-" * 10 + "c" * 18,  # ... or on hyphens
    "x" * 243,  # auth fits exactly (243 + 10), htpasswd does not
])
def test_long_cache_names_give_valid_names_that_fit(cache):
    assert DNS_SUBDOMAIN.fullmatch(cache)
    for name_of, suffix in ((auth_secret_name, "-oras-auth"), (registry_secret_name, "-oras-registry")):
        name = name_of(cache)
        assert len(name) <= 253
        assert DNS_SUBDOMAIN.fullmatch(name), name
        assert name.endswith(suffix)
        assert name == name_of(cache)  # deterministic
        if len(cache + suffix) <= 253:
            assert name == cache + suffix


def test_long_names_that_share_a_beginning_stay_apart():
    a, b = "a" * 250 + "bcd", "a" * 250 + "xyz"
    assert auth_secret_name(a) != auth_secret_name(b)
    assert registry_secret_name(a) != registry_secret_name(b)
    assert hashlib.sha256(a.encode()).hexdigest()[:8] in auth_secret_name(a)


# -- quantities -------------------------------------------------------------------------------

@pytest.mark.parametrize("text, value", [
    ("10Gi", 10 * 2**30), ("1024Mi", 2**30), ("1G", 10**9), ("500m", Decimal("0.5")), ("0.5", Decimal("0.5")),
    (".5", Decimal("0.5")), ("1.", 1), ("+1Ki", 1024), ("-1Gi", -(2**30)), ("1e3", 1000), ("1E3", 1000),
    ("2E", 2 * 10**18), ("1.5e-3", Decimal("0.0015")), ("0", 0), (2, 2),
    ("1Ei", 2**60), ("3Pi", 3 * 2**50), ("2Ti", 2 * 2**40),  # Ei is a suffix, not an exponent e with "i"
    ("Gi", 0), (".", 0), ("e3", 0), ("+", 0),  # no digits: the apiserver reads 0 (tests/cluster/test_orascache_crd.py)
])
def test_a_quantity_as_the_apiserver_reads_it(text, value):
    assert quantity(text) == value


@pytest.mark.parametrize("text", ["", "ten gigs", "1gi", "1GB", "1.2.3", "1..", "1e", "1e3Mi", " 1Gi", "1Gi\n",
                                  "1 Gi", "Ki1", True, None, 1.5])
def test_what_is_not_a_quantity(text):
    assert quantity(text) is None


def test_create_cache_sends_only_a_size_the_crd_takes_and_more_than_zero():
    for size in ("1.5Gi", ".5Gi", "+10G", "1e9", "1Ei"):
        assert cache_object("oras", "lab", storage=size)["spec"]["storage"]["pvc"]["size"] == size
    for size in ("1e3Mi", " 10Gi", "-1Gi", "0", "0Gi", "-0", "Gi", "."):
        with pytest.raises(CacheError, match="--storage"):
            cache_object("oras", "lab", storage=size)


def test_the_controller_reads_a_size_by_the_same_grammar_as_create_cache():
    """A CRD-less install lets any string through to the controller: it refuses what create-cache
    refuses as no quantity or a negative one, naming the field, and reads 1Ei as the CRD does."""
    def spec(size: object) -> dict[str, object]:
        return {"metadata": {"name": "oras", "namespace": "lab"}, "spec": {"storage": {"pvc": {"size": size}}}}

    for size in ("abc", "-1Gi", " 1Gi", "10 Gi", "1e3Mi", -1, True):
        with pytest.raises(InvalidCache, match=r"spec\.storage\.pvc\.size must be a quantity"):
            cache_spec(spec(size))
        with pytest.raises(CacheError):
            cache_object("oras", "lab", storage=size)  # type: ignore[arg-type]
    for size in ("1Ei", "10Gi", "1.5Gi", "1e9", 5):
        assert cache_spec(spec(size)).storage.size == str(size)
