"""Tier 2: the OrasCache CRD in a real kube-apiserver: the predecessor's resources apply unchanged,
ours are validated by the apiserver itself, and a bad spec is refused naming the field."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from tests.cluster.apply import apply_file, new_namespace

REPO = Path(__file__).resolve().parents[2]
CRD = REPO / "manifests" / "crd-orascache.yaml"
PREDECESSOR = REPO / "tests" / "fixtures" / "predecessor"
GROUP_VERSION = "cache.converged-computing.github.io/v1alpha1"


@pytest.fixture(scope="module")
def crd(control_plane):
    apply_file(control_plane, CRD)
    name = yaml.safe_load(CRD.read_text())["metadata"]["name"]
    session = control_plane.session()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        got = session.get(f"{control_plane.server}/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}").json()
        if any(c["type"] == "Established" and c["status"] == "True" for c in got.get("status", {}).get("conditions", [])):
            return got
        time.sleep(0.2)
    raise AssertionError(f"{name} never became Established")


def create(cp, ns: str, doc: dict):
    """As `kubectl apply` sends it: strict field validation, so an unknown field is an error."""
    return cp.session().post(f"{cp.server}/apis/{GROUP_VERSION}/namespaces/{ns}/orascaches", json=doc,
                             params={"fieldValidation": "Strict"})


def cache(name: str, spec: dict | None) -> dict:
    return {"apiVersion": GROUP_VERSION, "kind": "OrasCache", "metadata": {"name": name}, "spec": spec}


def predecessor_caches() -> list[tuple[str, dict]]:
    return [(f"{path.name}#{i}", doc) for path in sorted(PREDECESSOR.glob("*.yaml"))
            for i, doc in enumerate(yaml.safe_load_all(path.read_text())) if doc and doc.get("kind") == "OrasCache"]


@pytest.mark.parametrize("where, doc", predecessor_caches(), ids=[w for w, _ in predecessor_caches()])
def test_the_predecessors_caches_apply_unchanged(control_plane, crd, where, doc):
    ns = new_namespace(control_plane, "oc")
    r = create(control_plane, ns, doc)
    assert r.status_code == 201, r.text


def test_a_full_spec_of_ours_is_accepted_and_kept(control_plane, crd):
    ns = new_namespace(control_plane, "oc")
    spec = {"image": "docker.io/library/registry:3.0.0", "deploy": True, "auth": {"enabled": False},
            "storage": {"pvc": {"size": "10Gi", "storageClassName": "fast"}},
            "resources": {"requests": {"cpu": "100m", "memory": 134217728}, "limits": {"memory": "1Gi"}},
            "retention": {"keepLast": 5, "keepLastRuns": 2, "maxAge": "720h", "minAge": "0s", "keep": ["final-*"],
                          "interval": "1h", "dryRun": True}}
    r = create(control_plane, ns, cache("full", spec))
    assert r.status_code == 201, r.text
    assert r.json()["spec"] == spec


@pytest.mark.parametrize("spec, field, status", [
    ({"storage": {"pvc": {"size": "lots"}}}, "spec.storage.pvc.size", 422),
    ({"storage": {"pvc": {"size": "-1Gi"}}}, "spec.storage.pvc.size", 422),
    ({"storage": {"pvc": {"storageClassName": "fast"}}}, "spec.storage.pvc.size", 422),
    ({"storage": {"emptyDir": {"sizeLimit": "1Gi"}, "pvc": {"size": "1Gi"}}}, "give storage.emptyDir or storage.pvc", 422),
    ({"resources": {"limits": {"memory": "a lot"}}}, "spec.resources.limits[memory]", 422),
    ({"retention": {"keepLast": -1}}, "spec.retention.keepLast", 422),
    ({"retention": {"maxAge": "soon"}}, "spec.retention.maxAge", 422),
    ({"retention": {"keepLastRuns": -1}}, "spec.retention.keepLastRuns", 422),
    ({"retention": {"minAge": "1d"}}, "spec.retention.minAge", 422),
    ({"deploy": "yes"}, "spec.deploy", 422),
    ({"imag": "typo"}, 'unknown field "spec.imag"', 400),  # refused while decoding, before validation
    ({"retention": {"keepLats": 3}}, 'unknown field "spec.retention.keepLats"', 400),
])
def test_a_bad_spec_is_refused_naming_the_field(control_plane, crd, spec, field, status):
    ns = new_namespace(control_plane, "oc")
    r = create(control_plane, ns, cache("bad", spec))
    assert r.status_code == status, r.text
    assert field in r.json()["message"]


@pytest.mark.parametrize("retention, field", [
    ({"maxAge": "0s"}, "spec.retention.maxAge"), ({"maxAge": "0"}, "spec.retention.maxAge"),
    ({"keepLast": 1, "interval": "0h0m0.0s"}, "spec.retention.interval"),
])
def test_a_retention_duration_of_zero_is_refused_as_the_commands_refuse_it(control_plane, crd, retention, field):
    ns = new_namespace(control_plane, "oc")
    r = create(control_plane, ns, cache("zero", {"retention": retention}))
    assert r.status_code == 422, r.text
    message = r.json()["message"]
    assert field in message and "must be more than zero" in message, message
    assert create(control_plane, ns, cache("tiny", {"retention": {**retention, field.split(".")[-1]: "1ms"}})).status_code == 201


# Both sides of the edges of the grammar: signs, dots, suffixes, exponents, spaces, case.
QUANTITIES = ["1Gi", "10G", "500m", "0.5", ".5", "1.", "+1Ki", "1e3", "1E3", "2E", "1.5e-3", "0", "-0", "-1Gi", "-1e3",
              "Gi", ".", "e3", "+", "-", "E", "-.", "+Gi", "-0Gi",  # no digits: 0 to the apiserver
              "lots", "1gi", "1GB", "1.2.3", "1..", "1e", "1e3Mi", " 1Gi", "1Gi ", "1 Gi", "1Ki5", "1e+", "Ki1"]


def test_the_crd_takes_exactly_the_sizes_the_contract_reads_as_quantities(control_plane, crd):
    """kubectl_oras/orascache.py's ``quantity`` is the apiserver's isQuantity: `create-cache
    --storage` refuses what the apiserver would, and the controller compares what it keeps."""
    from kubectl_oras.orascache import quantity

    ns = new_namespace(control_plane, "oc")
    differ = []
    for number, size in enumerate(QUANTITIES):
        value = quantity(size)
        ours = value is not None and value >= 0
        r = create(control_plane, ns, cache(f"q{number}", {"storage": {"pvc": {"size": size}}}))
        assert r.status_code in (201, 422), r.text
        if ours != (r.status_code == 201):
            differ.append((size, ours, r.status_code))
    assert differ == [], differ


def test_the_resource_has_its_short_name_columns_and_status_subresource(crd):
    assert crd["spec"]["names"]["shortNames"] == ["oc"]
    version = crd["spec"]["versions"][0]
    assert [c["name"] for c in version["additionalPrinterColumns"]] == ["Ready", "Endpoint", "Storage", "Lost", "Age"]
    assert version["subresources"] == {"status": {}}


def test_an_empty_spec_also_applies_server_side(control_plane, crd):
    """`spec:` with nothing under it is null in YAML: kubectl apply --server-side sends it so."""
    from tests.cluster.apply import apply

    ns = new_namespace(control_plane, "oc")
    applied = apply(control_plane, {**cache("ssa", None), "metadata": {"name": "ssa", "namespace": ns}})
    assert applied["metadata"]["name"] == "ssa" and not applied.get("spec")
