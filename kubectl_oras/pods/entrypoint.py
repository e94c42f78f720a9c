"""What a launcher without ``command`` runs: Kubernetes' rules for a container's ``command`` and
``args`` over its image's ENTRYPOINT and CMD, applied as the container runtime applies them.

Pure: an image's config (as its registry stores it, or as a static entry says it) in, the argv
the wrapper is given out. The lookup itself is the webhook's (controller/runtime/image_commands.py);
docs/pod-protocol.md says what happens for a launcher without a command.

The image's WORKDIR and Env need nothing from us at run time: the container keeps its image, and
the runtime still gives it the image's working directory (when the container sets no
``workingDir``) and environment, PATH included, so a relative ENTRYPOINT (``python3``) is looked
up in the image's PATH by the wrapper's ``exec`` as the runtime would have. The WORKDIR is read
at admission only to judge relative annotation paths (``input-path``) from where the step runs.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any

from ..errors import OrasError
from ..fields import shown
from ..oci.errors import InvalidReference
from ..oci.reference import parse_name, registry_host_of

# On a pod whose launcher's image was resolved: which container, the image as written, the digest
# it now names (JSON). Not under the annotations' own prefix: it is a record, not a setting.
RESOLVED_IMAGE_ANNOTATION = "kubectl-oras.converged-computing.github.io/resolved-image"
# A launcher whose image is an index of platforms that do not all run the same argv: the wrapper
# is given none, but one line per platform ("os/arch[/variant] word word...", the words shell-quoted)
# and takes its node's (docs/pod-protocol.md).
PLATFORM_ARGV_ENV = "KUBECTL_ORAS_PLATFORM_ARGV"
DOCKER_HUB = "docker.io"


class NoImageCommand(OrasError):
    """An image reference, or its config, from which no command can be read; the message names it."""


@dataclass(frozen=True)
class ImageCommand:
    """The parts of an image's config that decide what its container runs, and where."""

    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    working_dir: str = ""
    env: tuple[str, ...] = ()  # NAME=value, as the config has them


@dataclass(frozen=True)
class ResolvedImage:
    """A launcher's image as the webhook found it: the reference the pod wrote, the one it is pinned
    to (``pinned``: the same name by digest; empty for a static entry, which pins nothing), and the
    command of each platform it holds (one entry, platform "", for an image that is no index)."""

    image: str
    pinned: str
    commands: tuple[tuple[str, ImageCommand], ...]


def _words(config: dict[str, Any], field: str, what: str) -> tuple[str, ...]:
    value = config.get(field)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(w, str) for w in value):
        raise NoImageCommand(f"{what}: {field} must be a list of strings, not {shown(value)}")
    return tuple(value)


def image_command(config: Any, *, what: str) -> ImageCommand:
    """The command part of an image config blob (``{"config": {"Entrypoint": ..., "Cmd": ...}}``)."""
    if not isinstance(config, dict):
        raise NoImageCommand(f"{what}: the image config is not a JSON object")
    inner = config.get("config") or {}
    if not isinstance(inner, dict):
        raise NoImageCommand(f"{what}: the image config's config is not an object")
    working_dir = inner.get("WorkingDir") or ""
    if not isinstance(working_dir, str):
        raise NoImageCommand(f"{what}: the image config's WorkingDir is not a string")
    return ImageCommand(_words(inner, "Entrypoint", what), _words(inner, "Cmd", what), working_dir,
                        _words(inner, "Env", what))


def step_argv(command: list[str], args: list[str], image: ImageCommand) -> list[str]:
    """What the container runs, as Kubernetes decides it (and containerd's CRI does it):

    - no command, no args: the image's ENTRYPOINT followed by its CMD;
    - args only: the image's ENTRYPOINT followed by the args (the CMD is replaced);
    - command only: the command (the image's ENTRYPOINT and CMD are both ignored);
    - both: the command followed by the args.

    An empty list counts as none; an ENTRYPOINT of one empty string is none (``ENTRYPOINT [""]``).
    Empty when nothing is left to run (the runtime would fail the container: "no command specified").
    """
    if command:
        return command + args
    entrypoint = [] if image.entrypoint == ("",) else list(image.entrypoint)
    return entrypoint + (args or list(image.cmd))


def unexpanded(words: list[str]) -> list[str]:
    """Words that come from an image, made safe from the kubelet's $(VAR) expansion, which applies
    to a container's command, args and env values but never reached the image's own: ``$$`` is the
    kubelet's way to write ``$``."""
    return [w.replace("$", "$$") for w in words]


def platform_of(descriptor: dict[str, Any]) -> str | None:
    """``os/arch[/variant]`` of an index entry; None for one that is no image to run (an
    attestation's ``unknown/unknown``, or an entry that names no platform)."""
    platform = descriptor.get("platform")
    if not isinstance(platform, dict):
        return None
    os_, arch, variant = platform.get("os"), platform.get("architecture"), platform.get("variant")
    if not isinstance(os_, str) or not isinstance(arch, str) or "unknown" in (os_, arch) or not os_ or not arch:
        return None
    return f"{os_}/{arch}/{variant}" if isinstance(variant, str) and variant else f"{os_}/{arch}"


@dataclass(frozen=True)
class LauncherCommand:
    """What the wrapped launcher is given: its argv (the same on every platform), or the image's
    words per platform for the wrapper to choose from at run time (``argv`` then holds the pod's
    own ``args`` alone, which follow them), and the image's working directory where every
    platform agrees on it. Words from the image are written for the pod spec already
    (``unexpanded``); the pod's own are left for the kubelet to expand, as it would, and stay in
    the container's args: expanded inside a platform's line, a value holding a quote or a newline
    would not be the one word Kubernetes passes."""

    argv: tuple[str, ...]
    per_platform: tuple[tuple[str, tuple[str, ...]], ...] = ()
    working_dir: str | None = None

    def platform_lines(self) -> str:
        """PLATFORM_ARGV_ENV's value: a line per platform, its words shell-quoted; a newline in a
        word is written as ``$argv_nl`` outside the quotes (the wrapper sets it), so each line stays one."""
        def quoted(word: str) -> str:
            return shlex.quote(word).replace("\n", "'\"$argv_nl\"'")

        return "\n".join(f"{platform} {' '.join(map(quoted, argv))}" for platform, argv in self.per_platform)


def launcher_command(command: list[str], args: list[str], resolved: ResolvedImage, *, container: str) -> LauncherCommand:
    """The launcher's argv over each platform's image command (``step_argv``); NoImageCommand when a
    platform's is empty."""
    argvs: dict[str, tuple[str, ...]] = {}
    for platform, image in resolved.commands:
        argv = step_argv(command, args, ImageCommand(tuple(unexpanded(list(image.entrypoint))),
                                                     tuple(unexpanded(list(image.cmd)))))
        if not argv:
            on = f" for {platform}" if platform else ""
            raise NoImageCommand(f"container {container!r}: image {resolved.image}{on} has neither ENTRYPOINT nor CMD, "
                                 "and the container no command or args: nothing to run; set command: on the container")
        argvs[platform] = tuple(argv[:len(argv) - len(args)] if args and not command else argv)  # the image's words
    dirs = {image.working_dir for _, image in resolved.commands}
    working_dir = (next(iter(dirs)) or None) if len(dirs) == 1 else None
    mine = tuple(args) if args and not command else ()
    if len(set(argvs.values())) == 1:
        return LauncherCommand(next(iter(argvs.values())) + mine, working_dir=working_dir)
    return LauncherCommand(mine, tuple(sorted(argvs.items())), working_dir)


def looked_up_later(image: str) -> ResolvedImage:
    """What a workload's pod template whose launcher has no command is checked with: its pods'
    image is looked up as each pod is made, so the template stands as one whose image runs
    something (never a patch: the template is stored as written)."""
    return ResolvedImage(image, "", (("", ImageCommand(entrypoint=(image or "?",))),))


def resolved_annotation(container: str, resolved: ResolvedImage) -> str:
    """RESOLVED_IMAGE_ANNOTATION's value: which container, the image as written, what it was pinned to."""
    record = {"container": container, "image": resolved.image, "pinned": resolved.pinned or None,
              "source": "registry" if resolved.pinned else "static"}
    return json.dumps(record, separators=(",", ":"))


@dataclass(frozen=True)
class ImageName:
    """A container's ``image`` as the runtime reads it: ``busybox`` is docker.io/library/busybox:latest."""

    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def reference(self) -> str:
        """What goes after /manifests/: the digest when there is one (it wins over a tag)."""
        return self.digest or self.tag or "latest"

    @property
    def key(self) -> str:
        """The name a static entry is matched by: registry/repository[:tag][@digest], defaults filled in."""
        text = f"{self.registry}/{self.repository}"
        return text + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")

    def pinned(self, digest: str) -> str:
        """The same image by digest, the name written as the pod wrote it would name it (no default host added)."""
        return f"{self.registry}/{self.repository}@{digest}"


def image_name(image: str) -> ImageName:
    """Parse a container image as Kubernetes does; NoImageCommand naming it when it is not one."""
    if not image or image != image.strip():
        raise NoImageCommand(f"image {image!r} is empty or surrounded by spaces")
    host = registry_host_of(image)
    rest = image[len(host) + 1:] if host else image
    try:
        repository, tag, digest = parse_name(rest, default_tag=None, original=image)
    except InvalidReference as e:
        raise NoImageCommand(str(e)) from None
    registry = host or DOCKER_HUB
    if registry == DOCKER_HUB and "/" not in repository:
        repository = "library/" + repository
    if tag is None and digest is None:
        tag = "latest"
    return ImageName(registry, repository, tag, digest)


def _json(text: str) -> Any:
    """The JSON value of ``text``; None when it is not JSON."""
    try:
        return json.loads(text)
    except ValueError:
        return None


def static_commands(text: str, *, where: str) -> dict[str, ImageCommand]:
    """The static entries (JSON: ``{"IMAGE": {"command": [...], "args": [...]}}``), keyed by
    ``ImageName.key``; NoImageCommand naming ``where`` and the entry that is wrong."""
    data = _json(text)
    if not isinstance(data, dict):
        raise NoImageCommand(f"{where} is not a JSON object of image: {{\"command\": [...], \"args\": [...]}}")
    entries = {}
    for image, entry in data.items():
        said = f"{where}: entry {image!r}"
        if not isinstance(entry, dict) or set(entry) - {"command", "args"} or not entry.get("command"):
            raise NoImageCommand(f"{said} must be {{\"command\": [...], \"args\": [...]}} with a command")
        try:
            key = image_name(image).key
        except NoImageCommand as e:
            raise NoImageCommand(f"{said} is not an image reference: {e}") from None
        entries[key] = ImageCommand(_words(entry, "command", said), _words(entry, "args", said))
    return entries
