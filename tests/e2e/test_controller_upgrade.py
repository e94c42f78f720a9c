"""Tier 3: upgrading the controller keeps a running registry pod, and so the artifacts of an
emptyDir cache. One build of the controller makes the cache and a step's artifact is pushed; then
another build takes over (the hidden --build-mark stands in for a release whose supervisor script
and pod template differ) and the registry pod is the same pod, with the artifact in it.
"""

from __future__ import annotations

import json

from kubectl_oras.oci.pull import pull_artifact
from kubectl_oras.oci.push import push_artifact
from kubectl_oras.oci.reference import Reference
from localcluster.project_image import IMAGE_NAME
from tests.cluster.apply import new_namespace, wait_for
from tests.e2e.test_workflow_on_a_node import cache_client, get, orascache
from tests.webhook.process import controller_process


def test_a_controller_upgrade_keeps_the_registry_pod_and_its_artifacts(control_plane, local_cluster, tmp_path):
    cp = control_plane
    ns = new_namespace(cp, "upgrade")
    result = tmp_path / "result.txt"
    result.write_text("iteration 1\n" * 1000)
    with controller_process(cp, tmp_path / "first.log", agent_image=IMAGE_NAME):
        host, client = orascache(cp, ns, "oras")  # emptyDir: the artifacts live as long as the pod
        push_artifact(client, Reference(host, "experiment/result", "v1"), [str(result)])
        pod = get(cp, f"/api/v1/namespaces/{ns}/pods/oras-0").json()
        sts = get(cp, f"/apis/apps/v1/namespaces/{ns}/statefulsets/oras").json()

    with controller_process(cp, tmp_path / "second.log", agent_image=IMAGE_NAME, extra=("--build-mark", "next")):
        # The Service deleted and put back: the new build has reconciled the cache since.
        service = get(cp, f"/api/v1/namespaces/{ns}/services/oras").json()["metadata"]["uid"]
        assert cp.session().delete(f"{cp.server}/api/v1/namespaces/{ns}/services/oras").status_code == 200
        wait_for(cp, f"/api/v1/namespaces/{ns}/services/oras", lambda s: s["metadata"]["uid"] != service, timeout=60)
        after = get(cp, f"/apis/apps/v1/namespaces/{ns}/statefulsets/oras").json()
        assert after["metadata"]["generation"] == sts["metadata"]["generation"]
        assert json.dumps(after["spec"]["template"], sort_keys=True) == json.dumps(sts["spec"]["template"], sort_keys=True)
        host, client = cache_client(cp, ns, "oras")  # ready, through the Service's new address
        now = get(cp, f"/api/v1/namespaces/{ns}/pods/oras-0").json()
        assert now["metadata"]["uid"] == pod["metadata"]["uid"], "the upgrade replaced the registry pod"
        assert [c["restartCount"] for c in now["status"]["containerStatuses"]] == [0]
        pull_artifact(client, Reference(host, "experiment/result", "v1"), str(tmp_path / "out"))
        assert (tmp_path / "out" / "result.txt").read_bytes() == result.read_bytes()
