"""What a launcher without ``command`` runs: Kubernetes' rules over the image's ENTRYPOINT and CMD,
the image pinned by digest, an argv per platform for an index, and the static entries."""

import json
import subprocess
from pathlib import Path

import pytest

import kubectl_oras.agent
from kubectl_oras.pods.annotations import PREFIX, ours, parse_settings
from kubectl_oras.pods.entrypoint import (
    PLATFORM_ARGV_ENV,
    RESOLVED_IMAGE_ANNOTATION,
    ImageCommand,
    LauncherCommand,
    NoImageCommand,
    ResolvedImage,
    image_command,
    image_name,
    launcher_command,
    platform_of,
    static_commands,
    step_argv,
)
from kubectl_oras.pods.injection import InjectionConfig, launcher_image, mutate_pod, pod_patch

CONFIG = InjectionConfig(agent_image="kubectl-oras:test", namespace="ns1")
MARK = {PREFIX + "output-uri": "dinosaur/hello:v1", PREFIX + "output-path": "out.txt"}
DIGEST = "sha256:" + "a" * 64
BOTH = ImageCommand(entrypoint=("/bin/sim",), cmd=("--default",))


@pytest.mark.parametrize(("command", "args", "image", "expected"), [
    ([], [], BOTH, ["/bin/sim", "--default"]),  # neither: ENTRYPOINT + CMD
    ([], ["--fast"], BOTH, ["/bin/sim", "--fast"]),  # args only: they replace CMD, ENTRYPOINT kept
    (["run"], [], BOTH, ["run"]),  # command only: ENTRYPOINT and CMD both ignored
    (["run"], ["x"], BOTH, ["run", "x"]),  # both
    ([], [], ImageCommand(cmd=("sh", "-c", "echo")), ["sh", "-c", "echo"]),  # only CMD
    ([], ["a"], ImageCommand(cmd=("sh",)), ["a"]),  # only CMD, args replace it
    ([], [], ImageCommand(entrypoint=("/e",)), ["/e"]),  # only ENTRYPOINT
    ([], [], ImageCommand(entrypoint=("",), cmd=("c",)), ["c"]),  # ENTRYPOINT [""] is none
    ([], [], ImageCommand(), []),  # neither in the image: nothing to run
])
def test_kubernetes_rules_for_command_and_args_over_entrypoint_and_cmd(command, args, image, expected):
    assert step_argv(command, args, image) == expected


def test_an_image_config_is_read_for_its_command_workdir_and_env():
    config = {"architecture": "amd64", "config": {"Entrypoint": ["python3"], "Cmd": ["app.py"], "WorkingDir": "/srv",
                                                  "Env": ["PATH=/usr/local/bin:/usr/bin"]}}
    assert image_command(config, what="x") == ImageCommand(("python3",), ("app.py",), "/srv",
                                                           ("PATH=/usr/local/bin:/usr/bin",))
    assert image_command({"config": None}, what="x") == ImageCommand()
    with pytest.raises(NoImageCommand, match="image busybox: Cmd must be a list of strings"):
        image_command({"config": {"Cmd": "echo hi"}}, what="image busybox")


@pytest.mark.parametrize(("image", "key", "reference"), [
    ("busybox", "docker.io/library/busybox:latest", "latest"),
    ("myorg/sim:v3", "docker.io/myorg/sim:v3", "v3"),
    ("localhost:5000/a/b:1", "localhost:5000/a/b:1", "1"),
    (f"ghcr.io/x/y:2@{DIGEST}", f"ghcr.io/x/y:2@{DIGEST}", DIGEST),  # the digest wins over the tag
])
def test_image_names_are_read_as_the_runtime_reads_them(image, key, reference):
    name = image_name(image)
    assert (name.key, name.reference) == (key, reference)


def test_a_malformed_image_is_named():
    with pytest.raises(NoImageCommand, match="'Busy:box'"):
        image_name("Busy:box")


def test_index_entries_name_their_platform_and_attestations_none():
    assert platform_of({"platform": {"os": "linux", "architecture": "arm", "variant": "v7"}}) == "linux/arm/v7"
    assert platform_of({"platform": {"os": "linux", "architecture": "amd64"}}) == "linux/amd64"
    assert platform_of({"platform": {"os": "unknown", "architecture": "unknown"}}) is None
    assert platform_of({}) is None


def pod(container, annotations=MARK, **spec):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "annotations": dict(annotations)},
            "spec": {"containers": [container], **spec}}


def resolved(*commands, pinned=f"docker.io/myorg/sim@{DIGEST}"):
    return ResolvedImage("myorg/sim:v3", pinned, tuple(commands))


def test_a_launcher_without_command_runs_its_images_command_pinned_by_digest_and_says_so():
    p = pod({"name": "main", "image": "myorg/sim:v3", "args": ["--fast"]})
    assert launcher_image(p, parse_settings(ours(MARK))) == ("main", "myorg/sim:v3")
    new, _ = mutate_pod(p, ours(MARK), CONFIG, image=resolved(("", BOTH)))
    main = new["spec"]["containers"][0]
    assert main["args"] == ["/bin/sim", "--fast"]
    assert main["image"] == f"docker.io/myorg/sim@{DIGEST}"
    record = json.loads(new["metadata"]["annotations"][RESOLVED_IMAGE_ANNOTATION])
    assert record == {"container": "main", "image": "myorg/sim:v3", "pinned": f"docker.io/myorg/sim@{DIGEST}",
                      "source": "registry"}
    ops = pod_patch(p, new)
    assert {"op": "add", "path": "/metadata/annotations/" + RESOLVED_IMAGE_ANNOTATION.replace("/", "~1"),
            "value": new["metadata"]["annotations"][RESOLVED_IMAGE_ANNOTATION]} in ops


def test_a_launcher_with_a_command_is_left_as_written_whatever_was_resolved():
    p = pod({"name": "main", "image": "myorg/sim:v3", "command": ["run"]})
    new, _ = mutate_pod(p, ours(MARK), CONFIG, image=resolved(("", BOTH)))
    main = new["spec"]["containers"][0]
    assert (main["args"], main["image"]) == (["run"], "myorg/sim:v3")
    assert RESOLVED_IMAGE_ANNOTATION not in new["metadata"]["annotations"]


def test_words_from_the_image_are_kept_from_the_kubelets_expansion_and_the_pods_own_are_not():
    image = ImageCommand(entrypoint=("sh", "-c", "echo $(HOME) $HOME"))
    new, _ = mutate_pod(pod({"name": "main", "image": "x", "args": ["$(POD)"]}), ours(MARK), CONFIG,
                        image=resolved(("", image)))
    assert new["spec"]["containers"][0]["args"] == ["sh", "-c", "echo $$(HOME) $$HOME", "$(POD)"]


def test_an_index_whose_platforms_differ_gives_the_wrapper_a_line_per_platform():
    amd = ImageCommand(entrypoint=("/amd64/sim",))
    arm = ImageCommand(entrypoint=("/arm/sim", "two words"))
    new, _ = mutate_pod(pod({"name": "main", "image": "x"}), ours(MARK), CONFIG,
                        image=resolved(("linux/amd64", amd), ("linux/arm/v7", arm)))
    main = new["spec"]["containers"][0]
    assert main["args"] == []
    lines = next(e["value"] for e in main["env"] if e["name"] == PLATFORM_ARGV_ENV).splitlines()
    assert lines == ["linux/amd64 /amd64/sim", "linux/arm/v7 /arm/sim 'two words'"]


def test_the_pods_own_args_stay_the_containers_args_after_each_platforms_words():
    """The kubelet expands $(VAR) in args and env values alike: a value holding a quote or a
    newline, expanded inside a platform's shell-quoted line, would no longer be one word."""
    amd = ImageCommand(entrypoint=("/amd64/sim",), cmd=("--default",))
    arm = ImageCommand(entrypoint=("/arm/sim", "two words"))
    new, _ = mutate_pod(pod({"name": "main", "image": "x", "args": ["$(MSG)", "b c"]}), ours(MARK), CONFIG,
                        image=resolved(("linux/amd64", amd), ("linux/arm/v7", arm)))
    main = new["spec"]["containers"][0]
    assert main["args"] == ["$(MSG)", "b c"]
    lines = next(e["value"] for e in main["env"] if e["name"] == PLATFORM_ARGV_ENV).splitlines()
    assert lines == ["linux/amd64 /amd64/sim", "linux/arm/v7 /arm/sim 'two words'"]


def test_an_index_without_entrypoints_runs_the_pods_args_alone():
    only_cmd = resolved(("linux/amd64", ImageCommand(cmd=("a",))), ("linux/arm64", ImageCommand(cmd=("b",))))
    assert launcher_command([], ["/bin/run", "x"], only_cmd, container="main").argv == ("/bin/run", "x")


def test_an_index_whose_platforms_agree_gives_one_argv():
    new, _ = mutate_pod(pod({"name": "main", "image": "x"}), ours(MARK), CONFIG,
                        image=resolved(("linux/amd64", BOTH), ("linux/arm64", BOTH)))
    main = new["spec"]["containers"][0]
    assert main["args"] == ["/bin/sim", "--default"]
    assert PLATFORM_ARGV_ENV not in {e["name"] for e in main["env"]}


def test_the_images_workdir_is_where_relative_annotation_paths_are_judged_from():
    image = ImageCommand(entrypoint=("/e",), working_dir="/oras")
    marked = {**MARK, PREFIX + "output-path": "bin/out"}  # /oras/bin/out: in the share
    with pytest.raises(Exception, match="from workingDir /oras"):
        mutate_pod(pod({"name": "main", "image": "x"}, marked), ours(marked), CONFIG, image=resolved(("", image)))
    # The container's own workingDir wins, as it does for the runtime.
    mutate_pod(pod({"name": "main", "image": "x", "workingDir": "/work"}, marked), ours(marked), CONFIG,
               image=resolved(("", image)))


def test_an_image_with_nothing_to_run_is_refused_naming_the_container_and_the_image():
    with pytest.raises(NoImageCommand, match="container 'main': image myorg/sim:v3 for linux/arm64 has neither"):
        launcher_command([], [], resolved(("linux/amd64", BOTH), ("linux/arm64", ImageCommand())), container="main")


def test_static_entries_are_keyed_as_the_runtime_names_images_and_refused_naming_the_entry():
    entries = static_commands('{"busybox": {"command": ["sh", "-c"], "args": ["echo hi"]}}', where="ConfigMap x")
    assert entries == {"docker.io/library/busybox:latest": ImageCommand(("sh", "-c"), ("echo hi",))}
    with pytest.raises(NoImageCommand, match="ConfigMap x: entry 'busybox' must be"):
        static_commands('{"busybox": {"args": ["a"]}}', where="ConfigMap x")
    with pytest.raises(NoImageCommand, match="ConfigMap x: entry 'b': command must be a list of strings"):
        static_commands('{"b": {"command": "sh -c"}}', where="ConfigMap x")
    with pytest.raises(NoImageCommand, match="ConfigMap x is not a JSON object"):
        static_commands("images: []", where="ConfigMap x")


def test_a_static_entry_whose_image_is_no_reference_is_refused_naming_the_configmap_and_the_entry():
    """Every launcher's lookup reads the static entries first: its denial must say where the bad
    reference is, not quote one the pod never wrote."""
    with pytest.raises(NoImageCommand, match=r"^ConfigMap x: entry 'Myorg/Sim:v3' is not an image reference: "
                                             r"invalid reference 'Myorg/Sim:v3': repository 'Myorg/Sim' must be lowercase"):
        static_commands('{"Myorg/Sim:v3": {"command": ["/sim"]}}', where="ConfigMap x")


def test_a_static_entry_pins_nothing_and_says_where_the_command_came_from():
    p = pod({"name": "main", "image": "busybox"})
    new, _ = mutate_pod(p, ours(MARK), CONFIG, image=ResolvedImage("busybox", "", (("", BOTH),)))
    assert new["spec"]["containers"][0]["image"] == "busybox"
    assert json.loads(new["metadata"]["annotations"][RESOLVED_IMAGE_ANNOTATION])["source"] == "static"


WRAPPER_CHOICE = """
bb=busybox
fail() { echo "kubectl-oras: $*" >&2; }
%s
printf '%%s\\n' "$@"
"""


def choose(lines: str) -> subprocess.CompletedProcess:
    """The wrapper's own choice of a platform's argv, run by sh on this machine."""
    script = (Path(kubectl_oras.agent.__file__).parent / "oras-wrap.sh").read_text()
    start = script.index("if [ -n \"${KUBECTL_ORAS_PLATFORM_ARGV:-}\" ]")
    block = script[start:script.index("\nfi\n", start) + 4]
    return subprocess.run(["sh", "-c", WRAPPER_CHOICE % block.replace('"$bb" uname', "uname")],
                          env={"PATH": "/usr/bin:/bin", PLATFORM_ARGV_ENV: lines}, capture_output=True, text=True)


def test_the_wrapper_runs_the_argv_of_its_nodes_platform():
    machine = subprocess.run(["uname", "-m"], capture_output=True, text=True).stdout.strip()
    goarch = {"x86_64": "amd64", "aarch64": "arm64"}.get(machine)
    if goarch is None:
        pytest.fail(f"this test knows the Go name of x86_64 and aarch64 only, not {machine}")
    mine = ["/mine", "a b", "it's", "line\nbreak", "$HOME", "", "'"]
    lines = LauncherCommand((), (("linux/s390x", ("/other",)), (f"linux/{goarch}", tuple(mine)))).platform_lines()
    assert len(lines.splitlines()) == 2
    done = choose(lines)
    assert (done.returncode, done.stdout) == (0, "".join(f"{w}\n" for w in mine))
    missing = choose("linux/s390x /other")
    assert missing.returncode == 1 and f"linux/{goarch}" in missing.stderr and "not run" in missing.stderr


def test_the_admission_core_denies_an_image_with_nothing_to_run_naming_the_container_and_the_image():
    from controller.core.admission import PodToInject, inject_agent

    p = pod({"name": "main", "image": "myorg/sim:v3"})
    marked = PodToInject("uid-1", p, "ns1", ours(MARK), parse_settings(ours(MARK)))
    assert marked.launcher_image == ("main", "myorg/sim:v3")
    response = inject_agent(marked, agent_image="kubectl-oras:test", cache=None, image=resolved(("", ImageCommand())))
    assert not response["response"]["allowed"]
    assert response["response"]["status"]["message"].startswith(
        "container 'main': image myorg/sim:v3 has neither ENTRYPOINT nor CMD")
