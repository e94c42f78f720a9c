"""What a marked pod becomes: the pure mutation behind the webhook and `kubectl oras inject`.

    initContainers: oras-push  (native sidecar, restartPolicy: Always: pulls the inputs, then
                                pushes after each run; its postStart hook prepares the share)
    containers:     <launcher> command -> the wrapper; original command + args kept as its args
    volumes:        oras-share (emptyDir)

Every restart policy gets this shape. The sidecar ends by itself, the launcher alone in the pod,
after the run's verdict (restartPolicy Never) or after a run that succeeded (OnFailure); under
Always it stays. A launcher started again after a failed pull asks the sidecar to pull again
(docs/pod-protocol.md).

Plain dicts in, plain dicts out; ``pod_patch`` turns the difference into a JSONPatch.
The contract with the agent is step.py; the share's layout is share.py (docs/pod-protocol.md).
"""

from __future__ import annotations

import dataclasses
import json
import shlex
from dataclasses import dataclass
from typing import Any

from ..errors import OrasError
from ..fields import FieldReader, shown
from ..orascache import REGISTRY_PORT, registry_host
from .annotations import (
    PREFIX,
    InvalidAnnotations,
    StepSettings,
    annotation_key,
    check_outside_share,
    expand_for_pod,
    parse_settings,
)
from .caches import CacheView
from .entrypoint import (
    PLATFORM_ARGV_ENV,
    RESOLVED_IMAGE_ANNOTATION,
    LauncherCommand,
    ResolvedImage,
    launcher_command,
    resolved_annotation,
)
from .share import SHARE_MOUNT, SHARE_VOLUME, Share, in_share
from .step import (
    JOB_UID_ENV,
    JOB_UID_FIELD,
    POD_ENV,
    STEP_ENV,
    WRAPPER_ENV_PREFIX,
    StepDescription,
    WrapperSettings,
    pull_wait,
    verdict_wait,
    wrapper_environment,
)
from .variables import downward_env, variables_in

# The init container that pulled in pods injected before the sidecar pulled under every restart
# policy: its agent command stays (such pods may still run), and its name stays reserved.
PULL_CONTAINER = "oras-pull"
PUSH_CONTAINER = "oras-push"
SHARE = Share(SHARE_MOUNT)
# On every pod the agent is injected into (at admission): the controller watches these pods, by
# this label alone, for its Events on what the agent reported (docs/controller.md).
STEP_LABEL = PREFIX + "step"
STEP_LABEL_VALUE = "injected"


class InvalidPod(OrasError):
    """A pod (template) not shaped like one where the injection reads or changes it; the message
    names the field. The apiserver would refuse such a pod anyway; we say which field first."""


@dataclass(frozen=True)
class InjectionConfig:
    """What the cluster side decides: our image, and where caches live."""

    agent_image: str
    namespace: str
    image_pull_policy: str = "IfNotPresent"
    registry_port: int = REGISTRY_PORT


_FIELDS = FieldReader(InvalidPod)  # a pod's fields, refused naming them (kubectl_oras/fields.py)
_map, _maps = _FIELDS.map, _FIELDS.maps


def _strings(container: dict[str, Any], field: str) -> list[str]:
    """A container's command or args: a list of strings (a string is not split: Kubernetes refuses it)."""
    value = container.get(field)
    where = f"container {shown(container.get('name'))}"
    if value is None:
        return []
    if isinstance(value, str):
        try:
            words = shlex.split(value)
        except ValueError:  # unbalanced quotes: no suggestion
            words = []
        written = json.dumps(words)
        hint = f" (write {field}: {written})" if words and len(written) <= 80 else ""
        raise InvalidPod(f"{where}: {field} must be a list of strings, not the string {shown(value)}{hint}")
    if not isinstance(value, list):
        raise InvalidPod(f"{where}: {field} must be a list of strings, not {shown(value)}")
    for i, item in enumerate(value):
        if not isinstance(item, str):
            hint = " (quote it in YAML)" if isinstance(item, int | float) or item is None else ""
            raise InvalidPod(f"{where}: {field}[{i}] must be a string, not {shown(item)}{hint}")
    return value


def metadata_of(pod: dict[str, Any]) -> dict[str, Any]:
    """A pod's (or any object's) metadata, checked to be a map; {} when absent."""
    return _map(pod.get("metadata"), "metadata")


def labelled(pod: dict[str, Any]) -> dict[str, Any]:
    """The pod with STEP_LABEL among its labels (a shallow copy; the pod itself is left as it is)."""
    metadata = metadata_of(pod)
    labels = _map(metadata.get("labels"), "metadata.labels")
    if labels.get(STEP_LABEL) == STEP_LABEL_VALUE:
        return pod
    return {**pod, "metadata": {**metadata, "labels": {**labels, STEP_LABEL: STEP_LABEL_VALUE}}}


def check_pod(pod: dict[str, Any]) -> None:
    """Raise InvalidPod naming the first field the injection reads that is not shaped as Kubernetes has it."""
    spec = _map(pod.get("spec"), "spec")
    for field in ("containers", "initContainers", "volumes"):
        _maps(spec.get(field), f"spec.{field}")


def is_injected(pod: dict[str, Any]) -> bool:
    """Whether the agent is in the pod already: our sidecar, running our agent, and the share. A
    container of the user's that only bears the sidecar's name is not it (check_names refuses it)."""
    spec = pod.get("spec") or {}
    return (any(c.get("name") == PUSH_CONTAINER and c.get("command") == agent_command("push")
                for c in spec.get("initContainers") or [])
            and any(v.get("name") == SHARE_VOLUME for v in spec.get("volumes") or []))


AGENT_CONTAINERS = (PUSH_CONTAINER, PULL_CONTAINER)


def check_names(spec: dict[str, Any], launcher: int) -> None:
    """What the injection adds must not clash with the pod's own: the apiserver would refuse the
    pod naming indices of the injected spec, which the user never wrote (`initContainers[0].name:
    Duplicate`, `volumeMounts[2].mountPath must be unique`). Raise InvalidPod naming the user's field."""
    for volume in spec.get("volumes") or []:
        if volume.get("name") == SHARE_VOLUME:
            raise InvalidAnnotations(f"the pod already has a volume named {SHARE_VOLUME!r}, which the cache needs")
    for field in ("initContainers", "containers"):
        for i, container in enumerate(spec.get(field) or []):
            if container.get("name") in AGENT_CONTAINERS:
                raise InvalidPod(f"spec.{field}[{i}] is named {container['name']!r}, a name the cache's agent takes "
                                 f"(it adds {' and '.join(AGENT_CONTAINERS)}); rename the container")
    field = f"spec.containers[{launcher}]"
    for i, mount in enumerate(_maps(spec["containers"][launcher].get("volumeMounts"), f"{field}.volumeMounts")):
        path = mount.get("mountPath")
        if isinstance(path, str) and in_share(path):
            raise InvalidPod(f"{field}.volumeMounts[{i}] (volume {shown(mount.get('name'))}) is mounted at {path}, "
                             f"where the cache mounts its share ({SHARE_MOUNT}) in the step's container; mount it "
                             "elsewhere")


def runs_once(pod: dict[str, Any], launcher: int) -> bool:
    """Whether the kubelet starts the launcher only once: the pod's restartPolicy is Never (its
    default is Always), and the launcher sets no restartPolicy or restartPolicyRules of its own
    (a container may restart under a pod's Never: ContainerRestartRules, on by default in 1.35)."""
    spec = pod.get("spec") or {}
    container = spec["containers"][launcher]
    return (spec.get("restartPolicy") == "Never" and container.get("restartPolicy") in (None, "Never")
            and not container.get("restartPolicyRules"))


def runs_until_it_succeeds(pod: dict[str, Any], launcher: int) -> bool:
    """Whether the kubelet starts the launcher again after a failure only, never after exit 0: its
    own restartPolicy, else the pod's, is OnFailure, and it has no restartPolicyRules (a rule may
    restart it on any code, 0 too)."""
    spec = pod.get("spec") or {}
    container = spec["containers"][launcher]
    return ((container.get("restartPolicy") or spec.get("restartPolicy")) == "OnFailure"
            and not container.get("restartPolicyRules"))


def launcher_is_alone(pod: dict[str, Any]) -> bool:
    """Whether the launcher is the pod's only container, which a sidecar that ends after the
    launcher's one run needs: beside another container that still runs, the kubelet would start
    an ended sidecar again, and again, with back-off, until that container ends."""
    return len((pod.get("spec") or {}).get("containers") or []) == 1


def choose_launcher(pod: dict[str, Any], settings: StepSettings) -> int:
    containers = (pod.get("spec") or {}).get("containers") or []
    names = [c.get("name") for c in containers]
    if settings.container:
        if settings.container not in names:
            raise InvalidAnnotations(
                f"annotation {annotation_key('container')}: no container named {settings.container!r} "
                f"(the pod has {', '.join(map(str, names))})"
            )
        return names.index(settings.container)
    if len(containers) != 1:
        raise InvalidAnnotations(
            f"the pod has {len(containers)} containers ({', '.join(map(str, names))}); say which one runs the step "
            f"with annotation {annotation_key('container')}"
        )
    return 0


@dataclass(frozen=True)
class Producer:
    """What the provenance of a step's outputs says of the pod (docs/provenance.md), as written in
    its spec: the launcher's image and command, the pod's controller, our annotations on it."""

    image: str = ""
    argv: tuple[str, ...] = ()
    workload: str = ""
    shaped_by: tuple[tuple[str, str], ...] = ()


def controller_of(metadata: dict[str, Any]) -> str:
    """``Kind/name`` of the owner reference marked controller (a Job's pods have one), or ""."""
    for owner in metadata.get("ownerReferences") or []:
        if isinstance(owner, dict) and owner.get("controller") is True:
            return f"{owner.get('kind', '')}/{owner.get('name', '')}"
    return ""


def producer_of(pod: dict[str, Any], launcher: int, values: dict[str, str]) -> Producer:
    container = pod["spec"]["containers"][launcher]
    image = container.get("image")
    return Producer(image=image if isinstance(image, str) else "",
                    argv=tuple(_strings(container, "command") + _strings(container, "args")),
                    workload=controller_of(metadata_of(pod)),
                    shaped_by=tuple(sorted((PREFIX + key, value) for key, value in values.items())))


def step_description(settings: StepSettings, config: InjectionConfig, *, pull_in_sidecar: bool = False,
                     single_run: bool = False, ends_after_success: bool = False,
                     producer: Producer = Producer()) -> StepDescription:
    """What the agent containers are told (JSON in KUBECTL_ORAS_STEP): no credentials, ever."""
    if settings.registry:
        plain = settings.registry.startswith("http://")
        registry = settings.registry.split("://", 1)[-1]
    else:
        plain, registry = True, registry_host(settings.cache, config.namespace, config.registry_port)
    return StepDescription(
        registry=registry,
        plain_http=plain,
        inputs=tuple(str(i) for i in settings.inputs),
        output=str(settings.output) if settings.output else None,
        unpack=settings.unpack,
        push_on_failure=settings.push_on_failure,
        debug=settings.debug,
        share=SHARE.root,
        timeout=settings.timeout,
        input_keys=tuple(annotation_key(i.key or "input-uri") for i in settings.inputs),
        pull_in_sidecar=pull_in_sidecar,
        single_run=single_run,
        ends_after_success=ends_after_success,
        input_wait=settings.input_wait,
        input_counts=input_counts(settings),
        image=producer.image,
        argv=producer.argv,
        workload=producer.workload,
        shaped_by=producer.shaped_by,
    )


def input_counts(settings: StepSettings) -> tuple[int | None, ...]:
    """Each input's count (annotation input-count), None where it has none; empty when none has one."""
    counts = dict(settings.input_counts)
    return tuple(counts.get(i.key or "input-uri") for i in settings.inputs) if counts else ()


def agent_command(*args: str) -> list[str]:
    return ["python3", "-m", "kubectl_oras.agent", *args]


def _agent_container(name: str, command: str, config: InjectionConfig, step: StepDescription,
                     secrets: list[str]) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": name,
        "image": config.agent_image,
        "imagePullPolicy": config.image_pull_policy,
        "command": agent_command(command),
        # A variable not known at admission ($(POD_NAME) of a pod whose name is generated after it)
        # is left in the step for the kubelet, which expands $(NAME) in an env value from the
        # variables defined before it in the same container: so they come first.
        "env": [*downward_env(variables_in(step.to_json())), {"name": STEP_ENV, "value": step.to_json()},
                *({"name": name, "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": path}}}
                  for name, path in ((JOB_UID_ENV, JOB_UID_FIELD), *POD_ENV.items()))],
        "volumeMounts": [{"name": SHARE_VOLUME, "mountPath": SHARE_MOUNT}],
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "256Mi"}},
    }
    if secrets:
        # ORAS_USER / ORAS_PASS (or ORAS_PUSH_PASS / ORAS_PULL_PASS) from Secrets; never in args or annotations.
        container["envFrom"] = [{"secretRef": {"name": name}} for name in secrets]
    return container


def agent_secrets(settings: StepSettings, cache: CacheView | None) -> tuple[list[str], list[str]]:
    """The Secrets the agent containers take their credentials from (envFrom), and warnings.

    A pod naming its own registry gets its ``oras-env`` Secret. A pod using a cache with auth on
    gets the cache's auth Secret alone: its registry takes no other password, and an ``oras-env``
    Secret in the predecessor's shape (ORAS_PUSH_PASS) would win over the cache's ORAS_PASS. With
    auth off, ``oras-env`` (or the cache's ``spec.secrets.orasEnv``) as the predecessor had it.
    Raises InvalidAnnotations when the cache does not exist, runs no registry, or cannot run one.
    """
    if settings.registry:
        return ([settings.oras_env] if settings.oras_env else []), []
    cache = cache or CacheView.default(settings.cache)
    key = annotation_key("oras-cache")
    if not cache.exists:
        _no_cache(settings, cache)
    if not cache.deploy:
        raise InvalidAnnotations(
            f"OrasCache {cache.name!r} has deploy: false, so it runs no registry; name the registry this pod "
            f"uses with annotation {annotation_key('registry')} (or set deploy: true; annotation {key})")
    if cache.problem:
        raise InvalidAnnotations(f"OrasCache {cache.name!r} cannot run its registry: {cache.problem} "
                                 f"(kubectl describe orascache {cache.name})")
    if cache.auth_secret:
        warnings = []
        if settings.oras_env:
            warnings.append(f"annotation {annotation_key('oras-env')} is ignored: the registry of OrasCache "
                            f"{cache.name!r} takes only its own password (Secret {cache.auth_secret})")
        return [cache.auth_secret], warnings
    own = settings.oras_env or cache.oras_env
    return ([own] if own else []), []


def _no_cache(settings: StepSettings, cache: CacheView) -> None:
    key = annotation_key("oras-cache")
    said = f"annotation {key}" if settings.cache == cache.name else "the default cache"
    raise InvalidAnnotations(
        f"no OrasCache named {cache.name!r} in this namespace ({said}); create it with: "
        f"kubectl oras create-cache {cache.name}, or name a registry with annotation {annotation_key('registry')}")


def _termination_log(container: dict[str, Any], field: str) -> str:
    path = container.get("terminationMessagePath") or "/dev/termination-log"
    if not isinstance(path, str):
        raise InvalidPod(f"{field}.terminationMessagePath must be a string, not {shown(path)}")
    return path


def launcher_image(pod: dict[str, Any], settings: StepSettings) -> tuple[str, str] | None:
    """(container name, image) of a launcher that has no command, whose image's command the
    webhook must look up; None when it has one (or the pod is already injected, or has no launcher
    we can tell: the mutation then says why)."""
    if is_injected(pod):
        return None
    try:
        container = (pod.get("spec") or {})["containers"][choose_launcher(pod, settings)]
        if _strings(container, "command"):
            return None
    except (InvalidAnnotations, InvalidPod, KeyError, IndexError, TypeError):
        return None
    image = container.get("image")
    return str(container.get("name")), image if isinstance(image, str) else ""


def _launcher_argv(container: dict[str, Any], command: list[str], args: list[str],
                   image: ResolvedImage | None) -> LauncherCommand:
    if command:
        return LauncherCommand(tuple(command + args))
    if image is None:
        raise InvalidAnnotations(
            f"container {container.get('name')!r} has no command, so its image's entrypoint would run and "
            "the wrapper could not; set command: (and args:) to what the image runs"
        )
    return launcher_command(command, args, image, container=str(container.get("name")))


def _wrap_launcher(container: dict[str, Any], settings: StepSettings, launcher: LauncherCommand,
                   image: ResolvedImage | None, *, field: str, pulled_by_sidecar: bool) -> dict[str, Any]:
    old_env = _maps(container.get("env"), f"{field}.env")
    for i, e in enumerate(old_env):
        if not isinstance(e.get("name", ""), str):
            raise InvalidPod(f"{field}.env[{i}].name must be a string, not {shown(e.get('name'))}")
    old_mounts = _maps(container.get("volumeMounts"), f"{field}.volumeMounts")
    wrapped = dict(container)
    wrapped["command"] = [SHARE.busybox, "sh", SHARE.wrapper]
    wrapped["args"] = list(launcher.argv)
    if image is not None and image.pinned:
        wrapped["image"] = image.pinned  # the command read and the image run cannot drift apart
    env = [e for e in old_env if not e.get("name", "").startswith(WRAPPER_ENV_PREFIX)]
    wrapper = WrapperSettings(input_path=settings.input_path, output_path=settings.output_path,
                              output_pipe=settings.output_pipe, push=settings.output is not None, debug=settings.debug,
                              input_overwrite=settings.input_overwrite, pulled_by_sidecar=pulled_by_sidecar,
                              termination_log=_termination_log(container, field),
                              verdict_wait=verdict_wait(settings.timeout),
                              pull_wait=pull_wait(settings.timeout, settings.input_wait))
    env += [{"name": k, "value": v} for k, v in wrapper_environment(wrapper, SHARE).items()]
    if launcher.per_platform:
        env.append({"name": PLATFORM_ARGV_ENV, "value": launcher.platform_lines()})
    wrapped["env"] = env
    mounts = [m for m in old_mounts if m.get("name") != SHARE_VOLUME]
    wrapped["volumeMounts"] = mounts + [{"name": SHARE_VOLUME, "mountPath": SHARE_MOUNT}]
    return wrapped


def mutate_pod(pod: dict[str, Any], values: dict[str, str], config: InjectionConfig,
               cache: CacheView | None = None, *, settings: StepSettings | None = None,
               template: bool = False, image: ResolvedImage | None = None) -> tuple[dict[str, Any], StepSettings]:
    """The pod with the agent injected, and the settings it was injected with.

    ``values`` are our annotations without prefix (the pod's merged over its owner's); ``cache``
    what the cluster says of the pod's OrasCache (None: the defaults, for `kubectl oras inject`);
    ``settings`` those ``values`` were read into already, if they were. A pod's $(VARIABLES) are
    expanded from its own metadata; a workload's pod ``template`` is no pod yet, so its
    variables are left for the kubelet (defined from the downward API). ``image``: what the
    webhook found of the image of a launcher without a command (``launcher_image``), whose
    command it then runs, pinned to its digest (entrypoint.py).
    Raises InvalidAnnotations or InvalidPod with a message for the user. A pod already injected is
    returned as is.
    """
    check_pod(pod)
    settings = settings or parse_settings(values)
    if is_injected(pod):  # injected before it was applied (`kubectl oras inject`)
        return (pod if template else labelled(pod)), settings
    spec = pod.get("spec") or {}
    if not template:
        settings = expand_for_pod(settings, metadata_of(pod))
    index = choose_launcher(pod, settings)
    check_names(spec, index)
    launcher = spec["containers"][index]
    command, args = _strings(launcher, "command"), _strings(launcher, "args")
    argv = _launcher_argv(launcher, command, args, image)
    working_dir = launcher.get("workingDir") or argv.working_dir  # the runtime's: the image's when none is set
    check_outside_share(settings, working_dir=working_dir if isinstance(working_dir, str) else None)
    # Shallow copies are enough: nothing below changes a nested object in place, and a deep copy
    # of the pod was half of the webhook's time per review (bench/webhook.py).
    new_spec = dict(spec)
    new = {**pod, "spec": new_spec}
    if not template:  # a workload's pods get it when they are admitted
        new = labelled(new)
    new_spec["containers"] = list(spec["containers"])
    secrets, warnings = agent_secrets(settings, cache)
    if warnings:
        settings = dataclasses.replace(settings, warnings=settings.warnings + tuple(warnings))
    once, alone = runs_once(pod, index), launcher_is_alone(pod)
    producer = producer_of(pod, index, values)
    if image is not None and not command:  # what runs is what the webhook resolved: its argv, its pinned image
        producer = dataclasses.replace(producer, argv=tuple(argv.argv) or producer.argv,
                                       image=image.pinned or producer.image)
    step = step_description(settings, config, pull_in_sidecar=True, single_run=once and alone,
                            ends_after_success=not once and alone and runs_until_it_succeeds(pod, index),
                            producer=producer)
    push = _agent_container(PUSH_CONTAINER, "push", config, step, secrets)
    push["restartPolicy"] = "Always"
    # No init container whose exit the kubelet would notice only at its next look, up to a second
    # later: the sidecar pulls, under every restart policy. Its hook, which the kubelet runs as
    # soon as it has started it, puts the launcher's busybox and wrapper into the share; the
    # kubelet starts the launcher when the hook returns. The hook always succeeds and never takes long.
    push["lifecycle"] = {"postStart": {"exec": {"command": agent_command("prepare")}}}
    agents = [push]
    new_spec["initContainers"] = agents + list(spec.get("initContainers") or [])
    resolved = image if not command else None
    new_spec["containers"][index] = _wrap_launcher(launcher, settings, argv, resolved,
                                                   field=f"spec.containers[{index}]", pulled_by_sidecar=True)
    if resolved is not None:
        metadata = metadata_of(new)
        annotations = {**_map(metadata.get("annotations"), "metadata.annotations"),
                       RESOLVED_IMAGE_ANNOTATION: resolved_annotation(str(launcher.get("name")), resolved)}
        new["metadata"] = {**metadata, "annotations": annotations}
    new_spec["volumes"] = list(spec.get("volumes") or []) + [{"name": SHARE_VOLUME, "emptyDir": {}}]
    return new, settings


def pod_patch(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """A JSONPatch from ``old`` to ``new`` for the parts mutate_pod changes (whole fields replaced,
    and the labels and annotations it adds, each by its key)."""
    ops: list[dict[str, Any]] = []
    old_metadata, new_metadata = old.get("metadata") or {}, new.get("metadata") or {}
    if "metadata" not in old:
        ops.append({"op": "add", "path": "/metadata", "value": new_metadata})
    else:
        for field in ("labels", "annotations"):
            old_map, new_map = old_metadata.get(field), new_metadata.get(field) or {}
            if not isinstance(old_map, dict):
                if new_map:
                    ops.append({"op": "add", "path": f"/metadata/{field}", "value": new_map})
            else:
                ops += [{"op": "add", "path": f"/metadata/{field}/" + key.replace("~", "~0").replace("/", "~1"),
                         "value": value} for key, value in new_map.items() if old_map.get(key) != value]
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    for field in ("initContainers", "containers", "volumes"):
        if old_spec.get(field) == new_spec.get(field):
            continue
        ops.append({"op": "replace" if field in old_spec else "add", "path": f"/spec/{field}", "value": new_spec[field]})
    return ops
