"""Tier 2: a launcher without a command, through the apiserver calling `python -m controller webhook`
(its own ServiceAccount, only manifests/' RBAC): the image's command read from a real registry
with the pod's pull Secret or its ServiceAccount's, the image pinned, a static entry from the
install's ConfigMap, and a lookup that fails denied with the fixes."""

import json
import time

import pytest

from controller.runtime.image_commands import STATIC_CONFIGMAP
from kubectl_oras.oci.client import Credentials, RegistryClient
from kubectl_oras.pods.annotations import PREFIX
from kubectl_oras.pods.entrypoint import RESOLVED_IMAGE_ANNOTATION
from tests.cluster.apply import apply, new_namespace, wait_for
from tests.registry.test_launcher_image_commands import PASSWORD, USER, pull_secret, push_image
from tests.support.registries import start_registry
from tests.support.token_service import TokenService
from tests.webhook.process import NS, webhook_process

MARK = {PREFIX + "output-uri": "m/o:v1", PREFIX + "output-path": "o"}


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    tokens = TokenService(tmp_path_factory.mktemp("tokens"), user=USER, password=PASSWORD).start()
    proc = start_registry("distribution-3", auth=tokens.registry_auth_config())
    client = RegistryClient(proc.host, plain_http=True, credentials=Credentials(USER, PASSWORD))
    push_image(client, "team/sim", "v3", {"Entrypoint": ["/bin/sim"], "Cmd": ["--default"]})
    yield proc, client
    proc.stop()
    tokens.stop()


@pytest.fixture(scope="module")
def webhook(control_plane, tmp_path_factory):
    log = tmp_path_factory.mktemp("webhook") / "webhook.log"
    with webhook_process(control_plane, log, agent_image="kubectl-oras:test") as proc:
        yield proc, log


def pod(name, image, *, args=None, **spec):
    container = {"name": "main", "image": image, **({"args": args} if args else {})}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "annotations": dict(MARK)},
            "spec": {"restartPolicy": "Never", "containers": [container], **spec}}


def create(cp, ns, doc, *, log):
    """The apiserver's answer, once the webhook is trusted (until then the create fails calling it)."""
    for _ in range(100):
        r = cp.session().post(f"{cp.server}/api/v1/namespaces/{ns}/pods", json=doc)
        if "failed calling webhook" not in r.text:
            return r
        time.sleep(0.2)
    raise AssertionError(f"the webhook was never called: {r.text}\n{log.read_text()[-2000:]}")


def test_a_launcher_without_command_runs_its_private_images_command_pinned(control_plane, webhook, registry):
    _, log = webhook
    proc, client = registry
    ns = new_namespace(control_plane, "t")
    apply(control_plane, {**pull_secret("regcred", proc.host, USER, PASSWORD), "apiVersion": "v1",
                          "metadata": {"name": "regcred", "namespace": ns}})
    image = f"{proc.host}/team/sim:v3"
    r = create(control_plane, ns, pod("by-pod-secret", image, args=["--fast"], imagePullSecrets=[{"name": "regcred"}]),
               log=log)
    assert r.status_code == 201, r.text
    main = r.json()["spec"]["containers"][0]
    digest = client.resolve("team/sim", "v3", what="test")
    assert main["args"] == ["/bin/sim", "--fast"]  # args replace CMD, ENTRYPOINT kept
    assert main["image"] == f"{proc.host}/team/sim@{digest}"
    record = json.loads(r.json()["metadata"]["annotations"][RESOLVED_IMAGE_ANNOTATION])
    assert record == {"container": "main", "image": image, "pinned": main["image"], "source": "registry"}

    # The ServiceAccount's pull Secret serves as well (read with the webhook's own RBAC).
    apply(control_plane, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "runner", "namespace": ns},
                          "imagePullSecrets": [{"name": "regcred"}]})
    r = create(control_plane, ns, pod("by-account", image, serviceAccountName="runner"), log=log)
    assert r.status_code == 201, r.text
    assert r.json()["spec"]["containers"][0]["args"] == ["/bin/sim", "--default"]


def test_without_credentials_the_pod_is_denied_naming_the_container_the_image_and_the_fixes(control_plane, webhook,
                                                                                           registry):
    _, log = webhook
    proc, _ = registry
    ns = new_namespace(control_plane, "t")
    image = f"{proc.host}/team/sim:v3"
    r = create(control_plane, ns, pod("anonymous", image), log=log)
    assert r.status_code == 400, r.text
    message = r.json()["message"]
    assert f"container 'main' has no command and the command of its image '{image}' could not be read" in message
    assert f"add the image to ConfigMap {NS}/{STATIC_CONFIGMAP}" in message and "refused" in message


def test_a_static_entry_serves_an_image_no_registry_answers_for(control_plane, webhook):
    _, log = webhook
    apply(control_plane, {"apiVersion": "v1", "kind": "ConfigMap",
                          "metadata": {"name": STATIC_CONFIGMAP, "namespace": NS},
                          "data": {"images.json": json.dumps({"nowhere.invalid/argo/step:v1": {"command": ["/step"]}})}})
    ns = new_namespace(control_plane, "t")
    try:
        for i in range(60):  # the webhook reads the ConfigMap again 10 s after it last did
            r = create(control_plane, ns, pod(f"static-{i}", "nowhere.invalid/argo/step:v1", args=["a"]), log=log)
            if r.status_code == 201:
                break
            time.sleep(0.5)
    finally:
        control_plane.session().delete(f"{control_plane.server}/api/v1/namespaces/{NS}/configmaps/{STATIC_CONFIGMAP}")
    assert r.status_code == 201, r.text
    main = r.json()["spec"]["containers"][0]
    assert (main["args"], main["image"]) == (["/step", "a"], "nowhere.invalid/argo/step:v1")
    assert json.loads(r.json()["metadata"]["annotations"][RESOLVED_IMAGE_ANNOTATION])["source"] == "static"
    assert "Traceback" not in log.read_text()


def test_a_jobs_launcher_without_command_is_allowed_and_its_pod_gets_the_images_command(control_plane, webhook,
                                                                                         registry):
    _, log = webhook
    proc, _ = registry
    ns = new_namespace(control_plane, "t")
    apply(control_plane, {**pull_secret("regcred", proc.host, USER, PASSWORD), "apiVersion": "v1",
                          "metadata": {"name": "regcred", "namespace": ns}})
    template = pod("unused", f"{proc.host}/team/sim:v3", imagePullSecrets=[{"name": "regcred"}])
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "sim", "namespace": ns},
           "spec": {"backoffLimit": 0, "template": {"metadata": {"annotations": dict(MARK)}, "spec": template["spec"]}}}
    apply(control_plane, job)
    found = wait_for(control_plane, f"/api/v1/namespaces/{ns}/pods?labelSelector=job-name%3Dsim",
                     lambda pods: bool(pods["items"]), timeout=60)["items"][0]
    assert found["spec"]["containers"][0]["args"] == ["/bin/sim", "--default"], log.read_text()[-2000:]
