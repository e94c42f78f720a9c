"""The webhook's lookup of a launcher's image command against real registries: images whose config
blobs we push ourselves (only CMD, only ENTRYPOINT, both, neither; an index of two platforms), a
private image behind a token service that only a pull Secret opens, and the static entries."""

import asyncio
import base64
import hashlib
import json

import pytest

from controller.runtime.image_commands import STATIC_CONFIGMAP, ImageCommands, ImageLookupFailed
from kubectl_oras.kube.errors import ObjectNotFound
from kubectl_oras.oci.client import Credentials, RegistryClient
from kubectl_oras.oci.manifest import INDEX_MEDIA_TYPE, MANIFEST_MEDIA_TYPE
from kubectl_oras.pods.entrypoint import ImageCommand
from tests.support.registries import KINDS, start_registry
from tests.support.token_service import TokenService

USER, PASSWORD = "puller", "s3cret-Pa55"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"


class Objects:
    """The API objects the lookup reads (its `Kube.get`), as the apiserver would answer them."""

    def __init__(self, *objects):
        self.objects = {(o["kind"], o["metadata"].get("namespace", "ns"), o["metadata"]["name"]): o for o in objects}
        self.gets = []

    async def get(self, resource, name, *, namespace, timeout):
        self.gets.append((resource.kind, name))
        try:
            return self.objects[(resource.kind, namespace, name)]
        except KeyError:
            raise ObjectNotFound(f"{resource.plural} {name!r} not found") from None


def push_image(client: RegistryClient, repository: str, tag: str, config: dict, *, arch: str = "amd64") -> dict:
    """An image of no layers whose config is ``config``; its manifest's descriptor."""
    blob = json.dumps({"architecture": arch, "os": "linux", "config": config, "rootfs": {"type": "layers",
                                                                                       "diff_ids": []}}).encode()
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    client.upload_blob_bytes(repository, blob, digest)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST_MEDIA_TYPE, "layers": [],
                           "config": {"mediaType": CONFIG_TYPE, "digest": digest, "size": len(blob)}}).encode()
    manifest_digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
    client.put_manifest(repository, tag, manifest)
    return {"mediaType": MANIFEST_MEDIA_TYPE, "digest": manifest_digest, "size": len(manifest)}


def push_index(client: RegistryClient, repository: str, tag: str, platforms: dict) -> str:
    entries = []
    for platform, config in platforms.items():
        os_, arch, *variant = platform.split("/")
        descriptor = push_image(client, repository, f"{tag}-{arch}{''.join(variant)}", config, arch=arch)
        entries.append({**descriptor, "platform": {"os": os_, "architecture": arch,
                                                   **({"variant": variant[0]} if variant else {})}})
    # An attestation, as buildkit adds: no platform to run.
    attestation = push_image(client, repository, f"{tag}-att", {})
    entries.append({**attestation, "platform": {"os": "unknown", "architecture": "unknown"}})
    index = json.dumps({"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": entries}).encode()
    client.put_manifest(repository, tag, index, media_type=INDEX_MEDIA_TYPE)
    return "sha256:" + hashlib.sha256(index).hexdigest()


def pod(image, **spec):
    return {"metadata": {"name": "p", "namespace": "ns"}, "spec": {"containers": [{"name": "main", "image": image}],
                                                                   **spec}}


def resolve(commands: ImageCommands, p: dict, namespace: str = "ns"):
    return asyncio.run(commands.resolve(namespace, p, "main", p["spec"]["containers"][0]["image"]))


@pytest.fixture(scope="module", params=KINDS)
def registry(request):
    proc = start_registry(request.param)
    client = RegistryClient(proc.host, plain_http=True)
    push_image(client, "img/cmd", "v1", {"Cmd": ["sh", "-c", "echo cmd"]})
    push_image(client, "img/entry", "v1", {"Entrypoint": ["/bin/entry"], "WorkingDir": "/work",
                                           "Env": ["PATH=/opt/bin:/bin"]})
    push_image(client, "img/both", "v1", {"Entrypoint": ["python3", "app.py"], "Cmd": ["--default"]})
    push_image(client, "img/neither", "v1", {"Env": ["A=b"]})
    yield proc, client
    proc.stop()


@pytest.mark.parametrize(("repository", "expected"), [
    ("img/cmd", ImageCommand(cmd=("sh", "-c", "echo cmd"))),
    ("img/entry", ImageCommand(entrypoint=("/bin/entry",), working_dir="/work", env=("PATH=/opt/bin:/bin",))),
    ("img/both", ImageCommand(("python3", "app.py"), ("--default",))),
    ("img/neither", ImageCommand(env=("A=b",))),
])
def test_each_images_config_is_read_and_the_image_pinned_to_its_digest(registry, repository, expected):
    proc, client = registry
    found = resolve(ImageCommands(Objects().get, namespace="sys"), pod(f"{proc.host}/{repository}:v1"))
    digest = client.resolve(repository, "v1", what="test")
    assert found.pinned == f"{proc.host}/{repository}@{digest}"
    assert found.commands == (("", expected),)


def test_an_index_gives_the_command_of_each_platform_it_runs_on(registry):
    proc, client = registry
    digest = push_index(client, "img/multi", "v2", {"linux/amd64": {"Entrypoint": ["/amd64/run"]},
                                                    "linux/arm/v7": {"Entrypoint": ["/arm/run"], "Cmd": ["x"]}})
    found = resolve(ImageCommands(Objects().get, namespace="sys"), pod(f"{proc.host}/img/multi:v2"))
    assert found.pinned == f"{proc.host}/img/multi@{digest}"
    assert dict(found.commands) == {"linux/amd64": ImageCommand(entrypoint=("/amd64/run",)),
                                    "linux/arm/v7": ImageCommand(("/arm/run",), ("x",))}


def test_a_digest_read_once_is_not_read_again_and_a_tag_is_kept_for_a_while(registry):
    proc, client = registry
    commands = ImageCommands(Objects().get, namespace="sys")
    first = resolve(commands, pod(f"{proc.host}/img/both:v1"))
    again = resolve(commands, pod(f"{proc.host}/img/both:v1"))
    by_digest = resolve(commands, pod(first.pinned))
    assert first.commands == again.commands == by_digest.commands
    assert commands.registry_reads == 1


def test_the_pods_of_a_job_made_at_once_share_one_read_of_the_registry(registry):
    proc, _ = registry
    commands = ImageCommands(Objects().get, namespace="sys")
    p = pod(f"{proc.host}/img/entry:v1")

    async def sixteen():
        return await asyncio.gather(*(commands.resolve("ns", p, "main", p["spec"]["containers"][0]["image"])
                                      for _ in range(16)))

    found = asyncio.run(sixteen())
    assert {f.commands for f in found} == {(("", ImageCommand(("/bin/entry",), (), "/work", ("PATH=/opt/bin:/bin",))),)}
    assert commands.registry_reads == 1 and commands.reading == {}


def test_an_image_that_is_not_there_denies_the_pod_naming_the_container_the_image_and_the_ways_out(registry):
    proc, _ = registry
    image = f"{proc.host}/img/missing:v1"
    with pytest.raises(ImageLookupFailed) as e:
        resolve(ImageCommands(Objects().get, namespace="sys"), pod(image))
    message = str(e.value)
    assert f"container 'main' has no command and the command of its image {image!r} could not be read" in message
    assert "has no img/missing:v1" in message
    assert f"set command: (and args:) on the container, or add the image to ConfigMap sys/{STATIC_CONFIGMAP}" in message
    assert not e.value.transient


def test_a_static_entry_wins_over_the_registry_and_a_registry_that_is_not_there_is_never_asked():
    static = {"kind": "ConfigMap", "metadata": {"name": STATIC_CONFIGMAP, "namespace": "sys"},
              "data": {"images.json": json.dumps({"nowhere.invalid:5000/argo/step:v1": {"command": ["/step"],
                                                                                      "args": ["--go"]}})}}
    found = resolve(ImageCommands(Objects(static).get, namespace="sys"), pod("nowhere.invalid:5000/argo/step:v1"))
    assert (found.pinned, found.commands) == ("", (("", ImageCommand(("/step",), ("--go",))),))


def test_a_static_map_that_is_not_json_denies_naming_the_configmap():
    static = {"kind": "ConfigMap", "metadata": {"name": STATIC_CONFIGMAP, "namespace": "sys"},
              "data": {"images.json": "busybox: [sh]"}}
    with pytest.raises(ImageLookupFailed, match=f"ConfigMap sys/{STATIC_CONFIGMAP} key images.json is not a JSON object"):
        resolve(ImageCommands(Objects(static).get, namespace="sys"), pod("busybox"))


def test_a_registry_that_does_not_answer_in_time_denies_within_the_limit():
    import socket
    import time

    with socket.socket() as silent:  # accepts connections (the backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(ImageLookupFailed, match="no answer within 0.5 s|timed out") as e:
            resolve(ImageCommands(Objects().get, namespace="sys", timeout=0.5), pod(f"127.0.0.1:{port}/a/b:v1"))
        assert time.monotonic() - started < 2
        assert e.value.transient


def pull_secret(name, host, user, password, *, namespace="ns"):
    config = {"auths": {f"https://{host}/v1/" if host == "docker.io" else host:
                        {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}}}
    return {"kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
            "metadata": {"name": name, "namespace": namespace},
            "data": {".dockerconfigjson": base64.b64encode(json.dumps(config).encode()).decode()}}


@pytest.fixture(scope="module")
def private_registry(tmp_path_factory):
    tokens = TokenService(tmp_path_factory.mktemp("tokens"), user=USER, password=PASSWORD).start()
    proc = start_registry("distribution-3", auth=tokens.registry_auth_config())
    push_image(RegistryClient(proc.host, plain_http=True, credentials=Credentials(USER, PASSWORD)),
               "team/private", "v1", {"Entrypoint": ["/secret/run"]})
    yield proc
    proc.stop()
    tokens.stop()


def test_a_private_image_is_read_with_the_pods_pull_secret_through_a_token_service(private_registry):
    image = f"{private_registry.host}/team/private:v1"
    objects = Objects(pull_secret("wrong", private_registry.host, USER, "nope"),
                      pull_secret("regcred", private_registry.host, USER, PASSWORD),
                      pull_secret("elsewhere", "other.example:5000", "x", "y"))
    commands = ImageCommands(objects.get, namespace="sys")
    p = pod(image, imagePullSecrets=[{"name": "wrong"}, {"name": "elsewhere"}, {"name": "regcred"}])
    assert resolve(commands, p).commands == (("", ImageCommand(entrypoint=("/secret/run",))),)


def test_a_private_image_is_read_with_the_service_accounts_pull_secret(private_registry):
    image = f"{private_registry.host}/team/private:v1"
    account = {"kind": "ServiceAccount", "metadata": {"name": "runner", "namespace": "ns"},
               "imagePullSecrets": [{"name": "regcred"}]}
    objects = Objects(account, pull_secret("regcred", private_registry.host, USER, PASSWORD))
    found = resolve(ImageCommands(objects.get, namespace="sys"), pod(image, serviceAccountName="runner"))
    assert found.commands == (("", ImageCommand(entrypoint=("/secret/run",))),)
    assert ("ServiceAccount", "runner") in objects.gets and ("Secret", "regcred") in objects.gets


def test_a_private_image_without_a_pull_secret_is_denied_saying_what_was_tried(private_registry):
    image = f"{private_registry.host}/team/private:v1"
    with pytest.raises(ImageLookupFailed) as e:
        resolve(ImageCommands(Objects().get, namespace="sys"), pod(image))
    message = str(e.value)
    assert "refused" in message and "imagePullSecrets" in message and "ORAS_USER" not in message


def test_a_tag_resolved_in_one_namespace_is_not_answered_to_another_from_the_cache(private_registry):
    image = f"{private_registry.host}/team/private:v1"
    objects = Objects(pull_secret("regcred", private_registry.host, USER, PASSWORD, namespace="a"))
    commands = ImageCommands(objects.get, namespace="sys")
    resolve(commands, pod(image, imagePullSecrets=[{"name": "regcred"}]), namespace="a")
    with pytest.raises(ImageLookupFailed, match="refused"):
        resolve(commands, pod(image, imagePullSecrets=[{"name": "regcred"}]), namespace="b")



def test_a_digest_read_in_one_namespace_is_not_answered_to_another_from_the_cache(private_registry):
    """A pod elsewhere that names a private image by its digest learns nothing from another
    namespace's read: the registry is asked again, with that pod's own credentials (none)."""
    image = f"{private_registry.host}/team/private:v1"
    objects = Objects(pull_secret("regcred", private_registry.host, USER, PASSWORD, namespace="a"))
    commands = ImageCommands(objects.get, namespace="sys")
    pinned = resolve(commands, pod(image, imagePullSecrets=[{"name": "regcred"}]), namespace="a").pinned
    with pytest.raises(ImageLookupFailed, match="refused"):
        resolve(commands, pod(pinned), namespace="b")


def test_a_pod_with_a_pull_secret_is_not_answered_by_the_read_of_a_pod_without_one_under_way(private_registry):
    """Two pods of one namespace made at once, one with the pull Secret and one without: each read
    is made with its own pod's credentials (only pods that name the same ones share a read)."""
    image = f"{private_registry.host}/team/private:v1"
    commands = ImageCommands(Objects(pull_secret("regcred", private_registry.host, USER, PASSWORD)).get,
                             namespace="sys")
    anonymous, holder = pod(image), pod(image, imagePullSecrets=[{"name": "regcred"}])

    async def both():
        return await asyncio.gather(*(commands.resolve("ns", p, "main", image) for p in (anonymous, holder)),
                                    return_exceptions=True)

    without, with_secret = asyncio.run(both())
    assert isinstance(without, ImageLookupFailed)
    assert with_secret.commands == (("", ImageCommand(entrypoint=("/secret/run",))),)


def test_a_pull_secret_of_the_wrong_type_denies_the_pod_naming_it_not_what_it_holds(private_registry):
    image = f"{private_registry.host}/team/private:v1"
    opaque = {**pull_secret("regcred", private_registry.host, USER, PASSWORD), "type": "Opaque"}
    with pytest.raises(ImageLookupFailed) as e:
        resolve(ImageCommands(Objects(opaque).get, namespace="sys"), pod(image, imagePullSecrets=[{"name": "regcred"}]))
    message = str(e.value)
    assert "imagePullSecret ns/regcred is of type 'Opaque', not one of kubernetes.io/dockerconfigjson" in message
    assert PASSWORD not in message and opaque["data"][".dockerconfigjson"] not in message
    assert not e.value.transient


def test_registries_that_drip_their_answers_do_not_hold_up_the_lookups_of_other_images(registry, dripping_registry):
    """Each lookup of an image on a registry that drips its manifest is denied at its limit while
    its read goes on in the background; eight of them (more than a thread pool of a small node
    holds) leave the next pod's lookup of a registry that answers as quick as ever."""
    proc, _ = registry
    commands = ImageCommands(Objects().get, namespace="sys", timeout=1.0)
    good = pod(f"{proc.host}/img/cmd:v1")

    async def eight_then_one():
        dripping = await asyncio.gather(*(commands.resolve(f"ns{i}", pod(f"{dripping_registry}/a/b:v{i}"), "main",
                                                           f"{dripping_registry}/a/b:v{i}") for i in range(8)),
                                        return_exceptions=True)
        return dripping, await commands.resolve("ns", good, "main", good["spec"]["containers"][0]["image"])

    dripping, found = asyncio.run(eight_then_one())
    assert all(isinstance(d, ImageLookupFailed) and d.transient for d in dripping)
    assert found.commands == (("", ImageCommand(cmd=("sh", "-c", "echo cmd"))),)


def test_an_index_whose_configs_together_are_over_the_bound_is_refused_not_held_in_memory(registry):
    """Each config of an index may be up to the bound, but not all of them together: a lookup
    (and what the webhook keeps of it) holds at most MAX_CONFIG_BYTES of configs, however many
    platforms an index names."""
    proc, client = registry
    padding = ["PAD=" + "x" * (1 << 20)] * 2  # 2 MiB of Env in each platform's config
    push_index(client, "img/heavy", "v1", {f"linux/{arch}": {"Entrypoint": [f"/{arch}"], "Env": padding}
                                           for arch in ("amd64", "arm64", "s390x")})
    with pytest.raises(ImageLookupFailed, match=r"its configs together are over 4 MiB"):
        resolve(ImageCommands(Objects().get, namespace="sys", timeout=20), pod(f"{proc.host}/img/heavy:v1"))


def test_an_index_of_thousands_of_entries_is_refused_at_once_saying_so(registry):
    """Not read entry by entry until the lookup's time runs out (a 503 the pod's controller would
    try again and again): refused for good, naming the count."""
    proc, client = registry
    one = push_image(client, "img/wide", "one", {"Entrypoint": ["/run"]})
    entries = [{**one, "platform": {"os": "linux", "architecture": f"arch{i}"}} for i in range(10_000)]
    index = json.dumps({"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": entries}).encode()
    client.put_manifest("img/wide", "v1", index, media_type=INDEX_MEDIA_TYPE)
    with pytest.raises(ImageLookupFailed, match="its index names 10000 images, over the 256 a lookup reads") as e:
        resolve(ImageCommands(Objects().get, namespace="sys", timeout=20), pod(f"{proc.host}/img/wide:v1"))
    assert not e.value.transient
