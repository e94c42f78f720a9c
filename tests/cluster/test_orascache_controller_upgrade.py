"""Tier 2: a controller upgrade leaves every cache's registry pod alone. One build makes the caches,
then another takes over (the hidden --build-mark stands in for a release whose supervisor script
and pod template differ), and no StatefulSet gets a new template, generation or revision: with no
node here, that is what "the registry pod is not replaced" means (tests/e2e/ watches a real pod).
A change of the cache's spec still replaces the pod, announced first, with the new build's template.
"""

from __future__ import annotations

import json

from controller.core.cache_objects import BUILD_MARK, SPEC_HASH
from tests.cluster.apply import apply, new_namespace, wait_for
from tests.cluster.conftest import FAST
from tests.cluster.test_orascache_controller import cache_path, events, get, orascache, settled
from tests.webhook.process import leading_replica, stop_replica


def statefulset_path(ns: str, name: str) -> str:
    return f"/apis/apps/v1/namespaces/{ns}/statefulsets/{name}"


def registry_pod_identity(sts: dict) -> tuple:
    """What a replaced registry pod would change: the template, the generation, the revision."""
    return (json.dumps(sts["spec"]["template"], sort_keys=True), sts["metadata"]["generation"],
            (sts.get("status") or {}).get("updateRevision"))


def reconciled_by_the_running_build(cp, ns: str, name: str) -> None:
    """The cache's Service deleted and put back: the running controller reconciled the cache since."""
    uid = get(cp, f"/api/v1/namespaces/{ns}/services/{name}")["metadata"]["uid"]
    assert cp.session().delete(f"{cp.server}/api/v1/namespaces/{ns}/services/{name}").status_code == 200
    wait_for(cp, f"/api/v1/namespaces/{ns}/services/{name}", lambda s: s["metadata"]["uid"] != uid, timeout=60)


def test_a_controller_upgrade_replaces_no_registry_pod_and_a_spec_change_still_does_announced(
        control_plane, kubeconfig, tmp_path):
    cp = control_plane
    ns = new_namespace(cp, "upgrade")
    first = leading_replica(cp, kubeconfig, tmp_path / "first.log", identity="build-one", extra=FAST)
    try:
        apply(cp, orascache(ns, "oras"))
        apply(cp, orascache(ns, "kept", {"storage": {"pvc": {"size": "1Gi"}}}))
        apply(cp, orascache(ns, "older"))
        for name in ("oras", "kept", "older"):
            wait_for(cp, cache_path(ns, name), settled, timeout=60)
            wait_for(cp, statefulset_path(ns, name), lambda s: (s.get("status") or {}).get("updateRevision"), timeout=60)
    finally:
        stop_replica(first)
    # "older" as a build before the spec hash made it: no SPEC_HASH, only its template to go by.
    r = cp.session().patch(f"{cp.server}{statefulset_path(ns, 'older')}",
                           json={"metadata": {"annotations": {SPEC_HASH: None}}},
                           headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text
    before = {name: registry_pod_identity(get(cp, statefulset_path(ns, name))) for name in ("oras", "kept", "older")}

    second = leading_replica(cp, kubeconfig, tmp_path / "second.log", identity="build-two",
                             extra=(*FAST, "--build-mark", "next"))
    try:
        for name in ("oras", "kept", "older"):
            reconciled_by_the_running_build(cp, ns, name)
            sts = get(cp, statefulset_path(ns, name))
            assert registry_pod_identity(sts) == before[name], f"the new build changed the registry pod of {name}"
            assert BUILD_MARK not in json.dumps(sts["spec"]["template"])
            assert not [e for e in events(cp, ns, name) if e[1] in ("ArtifactsLost", "RestartingRegistry")]
        assert SPEC_HASH in get(cp, statefulset_path(ns, "older"))["metadata"]["annotations"]  # recorded now

        # The user's change replaces the pod: ArtifactsLost first, then the new build's whole template.
        apply(cp, orascache(ns, "oras", {"resources": {"limits": {"memory": "1Gi"}}}))
        wait_for(cp, cache_path(ns, "oras"), lambda c: (c.get("status") or {}).get("observedGeneration") == 2, timeout=60)
        lost = [(kind, m) for kind, reason, m in events(cp, ns, "oras") if reason == "ArtifactsLost"]
        assert lost and lost[0][0] == "Warning" and "emptyDir" in lost[0][1]
        sts = wait_for(cp, statefulset_path(ns, "oras"), lambda s: s["metadata"]["generation"] > before["oras"][1],
                       timeout=60)
        template = sts["spec"]["template"]
        (container,) = template["spec"]["containers"]
        assert container["resources"] == {"limits": {"memory": "1Gi"}}
        assert template["metadata"]["annotations"][BUILD_MARK] == "next"
        assert container["command"][2].startswith("# build next\n")
    finally:
        stop_replica(second)
