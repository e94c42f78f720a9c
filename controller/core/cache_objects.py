"""The objects an OrasCache stands for, as pure functions of its spec: a StatefulSet of one registry
pod, a ClusterIP Service named after the cache, and (auth on) two Secrets.

Agents reach the registry at NAME.NAMESPACE.svc:5000 (the Service; no headless subdomain, no pod
label tricks). Every object carries an ownerReference to the cache, so deleting the cache deletes
them (a PVC too: the StatefulSet's retention policy hands it to the StatefulSet).

A changed pod template replaces the registry pod, and an emptyDir cache loses every artifact with
it. So the template of an existing StatefulSet changes only when what of the cache's spec shapes
the pod does (``pod_inputs``, recorded as a hash in ``SPEC_HASH``), never because another build of
the controller would write it otherwise (its supervisor script, env, probes, labels):
``statefulset_update`` keeps the template the StatefulSet has, whichever build wrote it.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from decimal import Decimal
from typing import Any

from kubectl_oras.orascache import API_VERSION, GROUP, KIND, REGISTRY_PORT, quantity, registry_secret_name

from .cache_auth import DATA_DIR, HTPASSWD_DIR, HTPASSWD_KEY, registry_environment
from .cache_spec import CacheSpec
from .registry_supervisor import supervisor_command

MANAGER = "kubectl-oras"  # our field manager, and the managed-by label
DOMAIN = "kubectl-oras.converged-computing.github.io"
SPEC_HASH = f"{DOMAIN}/spec-hash"  # on the StatefulSet: the hash of the pod_inputs its pod template was made from
# What the builds before SPEC_HASH compared, the hash of their whole pod template: kept while the
# template is (statefulset_update), so that a controller rolled back to such a build announces no restart.
EARLIER_TEMPLATE_HASH = f"{DOMAIN}/template-hash"
# On the pod template, with build_mark only: a test's stand-in for another build of the controller (its
# script and template differ from this one's, as a release's would), never set in a real deployment.
BUILD_MARK = f"{DOMAIN}/build"
REGISTRY_UID = 65532  # non-root; fsGroup makes the data volume writable for it
DEFAULT_RESOURCES = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "512Mi"}}
MANAGED = {"app.kubernetes.io/managed-by": MANAGER}
MANAGED_SELECTOR = "app.kubernetes.io/managed-by=" + MANAGER  # how the controller watches what it made


REGISTRY_NAME = "oras-cache-registry"
# The registry pods and their claims (the StatefulSet's, which it owns): watched for why a
# registry cannot start.
REGISTRY_SELECTOR = f"{MANAGED_SELECTOR},app.kubernetes.io/name={REGISTRY_NAME}"


def selector(spec: CacheSpec) -> dict[str, str]:
    return {"app.kubernetes.io/name": REGISTRY_NAME, "app.kubernetes.io/instance": spec.name}


def registry_of(obj: dict[str, Any]) -> tuple[str, str] | None:
    """(namespace, name) of the OrasCache whose registry pod or claim ``obj`` is, by its labels
    (the StatefulSet owns those, not the cache); None when it is not one."""
    metadata = obj.get("metadata") or {}
    labels = metadata.get("labels") or {}
    name = labels.get("app.kubernetes.io/instance") if isinstance(labels, dict) else None
    if labels.get("app.kubernetes.io/name") != REGISTRY_NAME or not isinstance(name, str) or not name:
        return None
    return str(metadata.get("namespace") or ""), name


def labels(spec: CacheSpec) -> dict[str, str]:
    return {**selector(spec), **MANAGED, "app.kubernetes.io/part-of": "kubectl-oras"}


def owner_reference(spec: CacheSpec) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": KIND, "name": spec.name, "uid": spec.uid,
            "controller": True, "blockOwnerDeletion": True}


def _metadata(spec: CacheSpec, name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": spec.namespace, "labels": labels(spec),
            "ownerReferences": [owner_reference(spec)], **extra}


def owner_of(obj: dict[str, Any]) -> tuple[str, str] | None:
    """(namespace, name) of the OrasCache that controls ``obj``; None when it is not one of ours."""
    metadata = obj.get("metadata") or {}
    for ref in metadata.get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("kind") == KIND and ref.get("apiVersion", "").startswith(GROUP) \
                and ref.get("controller") and isinstance(ref.get("name"), str):
            return str(metadata.get("namespace") or ""), ref["name"]
    return None


def service(spec: CacheSpec) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": _metadata(spec, spec.name),
            "spec": {"type": "ClusterIP", "selector": selector(spec),
                     "ports": [{"name": "registry", "port": REGISTRY_PORT, "targetPort": "registry", "protocol": "TCP"}]}}


def auth_secret(spec: CacheSpec, credentials: dict[str, str]) -> dict[str, Any]:
    """The Secret agents (envFrom) and `kubectl oras` take ORAS_USER / ORAS_PASS from. Made once:
    its password is random, so the controller creates it when missing and never rewrites it."""
    assert spec.auth_secret
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": _metadata(spec, spec.auth_secret),
            "stringData": dict(credentials)}


def registry_secret(spec: CacheSpec, data: dict[str, str]) -> dict[str, Any]:
    """The registry's own secrets (its HTTP secret; with auth, the htpasswd file made from the auth
    Secret's password): only the registry uses it. As ``data``, not ``stringData``: an apply owns
    the keys of ``data``, so a key it no longer sends (the htpasswd, once auth is off) is removed."""
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": _metadata(spec, registry_secret_name(spec.name)), "data": encoded}


def _probe(spec: CacheSpec, **timing: Any) -> dict[str, Any]:
    # /v2/ answers 401 when auth is on, and the kubelet cannot log in (a password in the pod spec
    # would be readable by anyone who can read pods); "/" answers 200 on distribution 2.x and 3.x
    # without credentials once the HTTP server is up.
    path = "/" if spec.auth else "/v2/"
    return {"httpGet": {"path": path, "port": "registry"}, **timing}


def registry_container(spec: CacheSpec, *, build_mark: str = "") -> dict[str, Any]:
    mounts: list[dict[str, Any]] = [{"name": "data", "mountPath": DATA_DIR}, {"name": "tmp", "mountPath": "/tmp"}]
    if spec.auth:
        mounts.append({"name": "htpasswd", "mountPath": HTPASSWD_DIR, "readOnly": True})
    return {
        "name": "registry",
        "image": spec.image,
        # serves, and reclaims disk when retention asks (registry_supervisor.py): the image needs /bin/sh
        "command": supervisor_command(build_mark=build_mark),
        "env": registry_environment(auth=spec.auth, http_secret_name=registry_secret_name(spec.name)),
        "ports": [{"name": "registry", "containerPort": REGISTRY_PORT, "protocol": "TCP"}],
        "readinessProbe": _probe(spec, periodSeconds=2, failureThreshold=3),
        # 5 minutes: the registry is stopped while the garbage collector runs (about 5 ms a manifest)
        "livenessProbe": _probe(spec, initialDelaySeconds=10, periodSeconds=10, failureThreshold=30),
        "resources": spec.resources or DEFAULT_RESOURCES,
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": mounts,
    }


def pod_template(spec: CacheSpec, *, build_mark: str = "") -> dict[str, Any]:
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]
    if spec.storage.kind == "emptyDir":
        volumes.insert(0, {"name": "data", "emptyDir": {"sizeLimit": spec.storage.size} if spec.storage.size else {}})
    if spec.auth:
        volumes.append({"name": "htpasswd", "secret": {"secretName": registry_secret_name(spec.name),
                                                      "items": [{"key": HTPASSWD_KEY, "path": HTPASSWD_KEY}]}})
    metadata: dict[str, Any] = {"labels": labels(spec)}
    if build_mark:
        metadata["annotations"] = {BUILD_MARK: build_mark}
    return {
        "metadata": metadata,
        "spec": {
            # The registry reads REGISTRY_* variables as configuration: a Service named "registry" in
            # the namespace would inject REGISTRY_PORT=tcp://… and break it. No service links.
            "enableServiceLinks": False,
            "automountServiceAccountToken": False,
            "securityContext": {"runAsNonRoot": True, "runAsUser": REGISTRY_UID, "runAsGroup": REGISTRY_UID,
                                "fsGroup": REGISTRY_UID, "seccompProfile": {"type": "RuntimeDefault"}},
            "terminationGracePeriodSeconds": 30,
            "containers": [registry_container(spec, build_mark=build_mark)],
            "volumes": volumes,
        },
    }


def template_hash(template: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(template, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def volume_claim_templates(spec: CacheSpec) -> list[dict[str, Any]]:
    if spec.storage.kind != "pvc":
        return []
    claim: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": spec.storage.size}}}
    if spec.storage.storage_class:
        claim["storageClassName"] = spec.storage.storage_class
    return [{"apiVersion": "v1", "kind": "PersistentVolumeClaim",
             "metadata": {"name": "data", "labels": labels(spec)}, "spec": claim}]


def _read_quantity(value: Any) -> Decimal | None:
    """A quantity as the apiserver reads one from JSON (it trims spaces first): an object made
    under a CRD that checked nothing may hold " 1Gi", and its hash must not change for it."""
    return quantity(value.strip() if isinstance(value, str) else value)


def _by_value(value: Any) -> str:
    found = _read_quantity(value)
    return str(found.normalize()) if found is not None else str(value)


def _resource_values(resources: Any) -> dict[str, dict[str, str]]:
    if not isinstance(resources, dict):
        return {}
    return {part: {k: _by_value(v) for k, v in sorted(values.items())}
            for part, values in sorted(resources.items()) if isinstance(values, dict) and values}


def pod_inputs(spec: CacheSpec) -> dict[str, Any]:
    """What of a cache's spec shapes its registry pod: the pod is replaced when this changes, and
    only then. Quantities by value (``1Gi`` is ``1024Mi``). The user's resources, not the defaults
    a build fills in. A later build that lets another field shape the pod leaves it out here while
    it has its default, so that the caches made before keep their hash, and their pods."""
    inputs: dict[str, Any] = {"image": spec.image, "auth": spec.auth, "storage": spec.storage.kind,
                              "resources": _resource_values(spec.resources)}
    if spec.storage.kind == "emptyDir" and spec.storage.size:
        inputs["sizeLimit"] = _by_value(spec.storage.size)
    return inputs


def pod_inputs_of(template: Any) -> dict[str, Any] | None:
    """The pod_inputs a pod template was made from, read back from it: for a StatefulSet an earlier
    build made without SPEC_HASH. None when it has no registry container to read them from."""
    spec = (template.get("spec") if isinstance(template, dict) else None) or {}
    found = [c for c in spec.get("containers") or [] if isinstance(c, dict) and c.get("name") == "registry"]
    if len(found) != 1:
        return None
    (container,) = found
    env = {e.get("name"): e.get("value") for e in container.get("env") or [] if isinstance(e, dict)}
    data = next((v for v in spec.get("volumes") or [] if isinstance(v, dict) and v.get("name") == "data"), None)
    resources = _resource_values(container.get("resources"))
    inputs: dict[str, Any] = {
        "image": container.get("image"), "auth": env.get("REGISTRY_AUTH") == "htpasswd",
        "storage": "emptyDir" if isinstance(data, dict) and "emptyDir" in data else "pvc",
        # the defaults are what a spec without resources was given
        "resources": {} if resources == _resource_values(DEFAULT_RESOURCES) else resources}
    size = ((data or {}).get("emptyDir") or {}).get("sizeLimit") if isinstance(data, dict) else None
    if size:
        inputs["sizeLimit"] = _by_value(size)
    return inputs


def spec_hash(inputs: dict[str, Any]) -> str:
    return template_hash(inputs)


UNCHANGEABLE = ("selector", "serviceName", "volumeClaimTemplates")  # of a StatefulSet's spec


def statefulset_update(desired: dict[str, Any], observed: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """What to apply over an existing StatefulSet, and whether that replaces its registry pod.

    When the cache's spec still shapes the pod as it did (``observed``'s SPEC_HASH, or for one an
    earlier build made without it, the inputs read back from its template, equal ``desired``'s),
    ``desired`` with ``observed``'s pod template: whatever build wrote it, and however this one
    would write it, the running pod stays. Otherwise ``desired`` whole, and the pod is replaced."""
    want = desired["metadata"]["annotations"][SPEC_HASH]
    have = ((observed.get("metadata") or {}).get("annotations") or {}).get(SPEC_HASH)
    spec = observed.get("spec") or {}
    template = spec.get("template")
    if have is None and (inputs := pod_inputs_of(template)) is not None:
        have = spec_hash(inputs)
    replaces = have != want or not isinstance(template, dict)
    update = copy.deepcopy(desired)
    # Fields the apiserver refuses to change (storage_change has checked what of the claim
    # templates matters): a build that writes them otherwise (a label more) must not be refused.
    for name in UNCHANGEABLE:
        if name in spec and name in update["spec"]:
            update["spec"][name] = copy.deepcopy(spec[name])
    if not replaces:
        update["spec"]["template"] = copy.deepcopy(template)
        earlier = ((observed.get("metadata") or {}).get("annotations") or {}).get(EARLIER_TEMPLATE_HASH)
        if isinstance(earlier, str):
            update["metadata"]["annotations"][EARLIER_TEMPLATE_HASH] = earlier
    return update, replaces


def statefulset(spec: CacheSpec, *, build_mark: str = "") -> dict[str, Any]:
    """The StatefulSet as this build writes it; ``build_mark`` (tests only) stands in for another
    build: its supervisor script and pod template differ by that mark."""
    template = pod_template(spec, build_mark=build_mark)
    body: dict[str, Any] = {
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": _metadata(spec, spec.name, annotations={SPEC_HASH: spec_hash(pod_inputs(spec))}),
        "spec": {
            "replicas": 1,
            "serviceName": spec.name,
            "selector": {"matchLabels": selector(spec)},
            "template": template,
            "updateStrategy": {"type": "RollingUpdate"},
            # Deleting the cache deletes the StatefulSet, and with it the claim (and its data).
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete", "whenScaled": "Retain"},
        },
    }
    claims = volume_claim_templates(spec)
    if claims:
        body["spec"]["volumeClaimTemplates"] = claims
    return body


def same_quantity(a: Any, b: Any) -> bool:
    qa, qb = _read_quantity(a), _read_quantity(b)
    return qa is not None and qa == qb


def storage_of(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """An observed StatefulSet's claim templates, as compared with the desired ones (the fields we set)."""
    out = []
    for claim in (obj.get("spec") or {}).get("volumeClaimTemplates") or []:
        spec = claim.get("spec") or {}
        out.append({"size": str(((spec.get("resources") or {}).get("requests") or {}).get("storage")),
                    "class": spec.get("storageClassName")})
    return out


def running_storage(obj: dict[str, Any]) -> str:
    """A StatefulSet's storage in the words of ``Storage.describe``: "pvc 1Gi (fast)", "emptyDir 10Gi"."""
    claims = storage_of(obj)
    if claims:
        return " ".join(f"pvc {c['size']}" + (f" ({c['class']})" if c["class"] else "") for c in claims)
    volumes = (((obj.get("spec") or {}).get("template") or {}).get("spec") or {}).get("volumes") or []
    data = next((v for v in volumes if isinstance(v, dict) and v.get("name") == "data"), {})
    limit = (data.get("emptyDir") or {}).get("sizeLimit") if isinstance(data.get("emptyDir"), dict) else None
    return f"emptyDir {limit}" if limit else "emptyDir"


def storage_change(desired: dict[str, Any], observed: dict[str, Any]) -> str | None:
    """Why ``observed`` cannot become ``desired`` in place (a StatefulSet's claim templates cannot
    change), or None. The controller reports it instead of deleting a claim that holds artifacts."""
    want, have = storage_of(desired), storage_of(observed)
    if len(want) == len(have) and all(same_quantity(w["size"], h["size"]) for w, h in zip(want, have, strict=True)) and \
            all(w["class"] in (None, h["class"]) for w, h in zip(want, have, strict=True)):
        return None
    return (f"spec.storage changed from {running_storage(observed)} to {running_storage(desired)}, which a running "
            f"registry cannot take in place; delete the OrasCache and create it again to change its storage "
            f"(its artifacts go with it)")


def difference(observed: Any, desired: Any, *, skip: tuple[str, ...] = ("stringData",), exact: tuple[str, ...] = ("data",),
               at: str = "") -> str | None:
    """Where ``observed`` does not hold a field of ``desired`` as desired has it (a path such as
    ``spec.ports``), or None. Fields the apiserver or others add are fine; lists must match item
    for item. A server-side apply leaves an item another manager added to a list (a hand-added
    Service port), so the controller checks this after applying and replaces the lists when it
    does not hold. A map named in ``exact`` (a Secret's ``data``) must have no other keys either:
    a key another write made stays through our apply."""
    if isinstance(desired, dict):
        if not isinstance(observed, dict):
            return at or "."
        if at.rsplit(".", 1)[-1] in exact and set(observed) - set(desired):
            return f"{at}[{sorted(set(observed) - set(desired))[0]}]"
        for k, v in desired.items():
            where = f"{at}.{k}" if at else k
            if k not in skip and (found := difference(observed.get(k), v, skip=skip, exact=exact, at=where)):
                return found
        return None
    if isinstance(desired, list):
        if not isinstance(observed, list) or len(observed) != len(desired):
            return at
        for i, (o, d) in enumerate(zip(observed, desired, strict=True)):
            if found := difference(o, d, skip=skip, exact=exact, at=f"{at}[{i}]"):
                return found
        return None
    # The apiserver drops empty strings (omitempty): an env var's value "" comes back without one;
    # and keeps quantities in its own canonical form ("0.5" comes back "500m").
    if observed == desired or (desired == "" and observed is None) or same_quantity(observed, desired):
        return None
    return at


def contains(observed: Any, desired: Any, *, skip: tuple[str, ...] = ("stringData",)) -> bool:
    return difference(observed, desired, skip=skip) is None
