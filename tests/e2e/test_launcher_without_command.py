"""Tier 3: a launcher without a command on the local cluster. Its image (busybox, an ENTRYPOINT
that prints its argv and working directory, a CMD) is served by a cache's registry that the nodes
pull from over plain HTTP with a pull Secret; the step's argv is exactly what Kubernetes itself
runs for the same pod unannotated, with and without args."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import time

import pytest

from controller.runtime.image_commands import PLAIN_HTTP_KEY, STATIC_CONFIGMAP
from kubectl_oras.pods.annotations import PREFIX
from kubectl_oras.pods.entrypoint import RESOLVED_IMAGE_ANNOTATION
from localcluster import images
from localcluster.project_image import IMAGE_NAME, project_archive
from tests.cluster.apply import apply, new_namespace, wait_for
from tests.e2e.test_workflow_on_a_node import get, orascache
from tests.webhook.process import NS, controller_process

# Prints each word of its argv, then where it runs; $0 is the first word after the script.
PRINT_ARGV = 'for a in "$0" "$@"; do echo "[$a]"; done; echo "pwd=$PWD"'


@pytest.fixture(scope="module")
def cluster(control_plane, local_cluster, tmp_path_factory):
    local_cluster.import_archive(project_archive())
    log = tmp_path_factory.mktemp("e2e") / "controller.log"
    with controller_process(control_plane, log, agent_image=IMAGE_NAME):
        yield control_plane, local_cluster, log


def push_runnable_image(client, repository: str, tag: str) -> None:
    """busybox with an ENTRYPOINT and a CMD of our own, pushed as a real image the nodes can run."""
    files, modes = images.busybox_files()
    files["srv/work/.keep"] = ""
    layer = images._layer(images.Image("x", files, modes))
    compressed = gzip.compress(layer, mtime=0)
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Env": ["PATH=/bin", "GREETING=from-the-image"], "WorkingDir": "/srv/work",
                                    "Entrypoint": ["/bin/sh", "-c", PRINT_ARGV],
                                    "Cmd": ["first", "two words", "$(GREETING)", "$HOME"]},
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]}}).encode()
    descriptors = []
    for data, media_type in ((config, "application/vnd.oci.image.config.v1+json"),
                             (compressed, "application/vnd.oci.image.layer.v1.tar+gzip")):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        client.upload_blob_bytes(repository, data, digest)
        descriptors.append({"mediaType": media_type, "digest": digest, "size": len(data)})
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": descriptors[0], "layers": descriptors[1:]}
    client.put_manifest(repository, tag, json.dumps(manifest).encode())


def step_pod(name: str, image: str, *, annotations: dict | None = None, args: list[str] | None = None) -> dict:
    container = {"name": "step", "image": image, "env": [{"name": "MINE", "value": "from-the-pod"}],
                 **({"args": args} if args is not None else {})}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "annotations": annotations or {}},
            "spec": {"restartPolicy": "Never", "imagePullSecrets": [{"name": "cache-pull"}], "containers": [container]}}


def run(cp, ns, doc) -> tuple[dict, str]:
    """The pod once it has ended, and its step container's log."""
    apply(cp, {**doc, "metadata": {**doc["metadata"], "namespace": ns}})
    path = f"/api/v1/namespaces/{ns}/pods/{doc['metadata']['name']}"
    pod = wait_for(cp, path, lambda p: p.get("status", {}).get("phase") in ("Succeeded", "Failed"))
    return pod, get(cp, f"{path}/log?container=step").text


def test_the_steps_argv_is_what_kubernetes_runs_for_the_same_pod_unannotated(cluster):
    cp, local_cluster, log = cluster
    ns = new_namespace(cp, "e2e")
    host, client = orascache(cp, ns, "oras")
    push_runnable_image(client, "launch/argv", "v1")
    for node in local_cluster.nodes:
        node.pull_over_plain_http(host)
    user, password = client.transport.auth.credentials.username, client.transport.auth.credentials.password
    auths = {"auths": {host: {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}}}
    apply(cp, {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
               "metadata": {"name": "cache-pull", "namespace": ns},
               "data": {".dockerconfigjson": base64.b64encode(json.dumps(auths).encode()).decode()}})
    apply(cp, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": STATIC_CONFIGMAP, "namespace": NS},
               "data": {PLAIN_HTTP_KEY: host}})
    image = f"{host}/launch/argv:v1"
    marks = {PREFIX + "output-uri": "launch/out:v1", PREFIX + "output-pipe": "argv.txt"}
    try:
        for case, args in (("cmd", None), ("args", ["given", "$(MINE)", "$(GREETING)"])):
            plain, plain_log = run(cp, ns, step_pod(f"plain-{case}", image, args=args))
            for attempt in range(30):  # the webhook reads the plain-http registries again 10 s after it last did
                marked_doc = step_pod(f"marked-{case}-{attempt}", image, annotations=marks, args=args)
                r = cp.session().post(f"{cp.server}/api/v1/namespaces/{ns}/pods", json=marked_doc)
                if r.status_code == 201:
                    break
                assert "could not be read" in r.text, r.text
                time.sleep(1)
            assert r.status_code == 201, r.text
            marked = wait_for(cp, f"/api/v1/namespaces/{ns}/pods/{marked_doc['metadata']['name']}",
                              lambda p: p.get("status", {}).get("phase") in ("Succeeded", "Failed"))
            marked_log = get(cp, f"/api/v1/namespaces/{ns}/pods/{marked_doc['metadata']['name']}/log?container=step").text
            assert plain["status"]["phase"] == "Succeeded", plain_log
            assert marked["status"]["phase"] == "Succeeded", marked_log + log.read_text()[-3000:]
            assert marked_log == plain_log, f"unannotated:\n{plain_log}\nannotated:\n{marked_log}"
            assert "pwd=/srv/work" in plain_log
            step = marked["spec"]["containers"][0]
            assert step["image"].startswith(f"{host}/launch/argv@sha256:")
            assert json.loads(marked["metadata"]["annotations"][RESOLVED_IMAGE_ANNOTATION])["image"] == image
        # What Kubernetes ran, for the record of what the comparison covered.
        assert "[$(GREETING)]" in plain_log and "[from-the-pod]" in plain_log
    finally:
        cp.session().delete(f"{cp.server}/api/v1/namespaces/{NS}/configmaps/{STATIC_CONFIGMAP}")
