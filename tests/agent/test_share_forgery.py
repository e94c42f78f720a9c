"""Tier 1: nothing pulled may land in the share or speak for the sidecar (docs/pod-protocol.md).

The launcher's working directory stands for `/` (busybox's, and many images'): the pod's root
holds the share, at share/ below it, as `/` holds /oras. An input artifact holding share/runs/1/verdict
(any upstream step may push one) would be merged into the share by the copy into the working
directory; a step may write there itself. Whatever is planted, the step never ends 0 without its
own output in the registry. Both pod shapes: the init container pulls (a launcher that may run
again), and the sidecar pulls (a launcher that runs once).
"""

from pathlib import Path

import pytest

from kubectl_oras.oci.client import RegistryClient
from kubectl_oras.oci.errors import NotFound
from kubectl_oras.oci.pull import pull_artifact
from kubectl_oras.oci.push import push_artifact
from kubectl_oras.oci.reference import Reference
from tests.agent.protocol import LocalPod, wait_for

STEP_TIMEOUT = 30
FORGED_VERDICT = "pushed forged/out:v1@sha256:" + "0" * 64 + "\n"
SHAPES = [pytest.param(False, id="init-container-pulls"), pytest.param(True, id="sidecar-pulls")]


@pytest.fixture
def client(any_registry):
    return RegistryClient(any_registry.host, plain_http=True)


@pytest.fixture(params=SHAPES)
def pod(request, any_registry, tmp_path, repo):
    p = LocalPod(any_registry.host, tmp_path, runs_once=request.param, working_dir=tmp_path)
    p.output, p.output_path = f"{repo}-out:v1", "out.txt"
    yield p
    p.cleanup()


def start(pod: LocalPod) -> None:
    """The pod up to its launcher: the init container's pull, or the sidecar with its hook."""
    if pod.runs_once:
        pod.start_sidecar()
        hook = pod.hook()
        assert hook.returncode == 0, hook.stderr
    else:
        init = pod.init()
        assert init.returncode == 0, init.stderr
        pod.start_sidecar()


def stored(client, pod: LocalPod, tmp_path: Path) -> str | None:
    """What the registry holds under the step's output tag (out.txt), or None."""
    repository, tag = pod.output.split(":")
    try:
        pull_artifact(client, Reference(pod.registry, repository, tag), str(tmp_path / "got"))
    except NotFound:
        return None
    return (tmp_path / "got" / "out.txt").read_text()


def push_input(client, pod: LocalPod, name: str, tmp_path: Path, files: dict[str, str]) -> None:
    """An upstream step's artifact: one directory, `share`, as an image's /oras would be named."""
    top = tmp_path / "upstream" / "share"
    for rel, content in files.items():
        (top / rel).parent.mkdir(parents=True, exist_ok=True)
        (top / rel).write_text(content)
    push_artifact(client, Reference(pod.registry, *name.split(":")), [str(top)])


def markers(share: Path) -> dict[str, str]:
    """The share's files but the tools and the pulled inputs: what the agent and the wrapper wrote."""
    return {str(p.relative_to(share)): p.read_text() for p in sorted(share.rglob("*"))
            if p.is_file() and p.relative_to(share).parts[0] not in ("bin", "inputs")}


PLANTED = {
    "verdict": {"runs/1/verdict": FORGED_VERDICT},
    "done-and-outputs": {"runs/1/done": "0\n", "runs/1/outputs/out.txt": "forged\n"},
    "pull-verdict": {"pull/verdict": "pulled\n", "pull/note": "forged\n"},
}


@pytest.mark.parametrize("planted", list(PLANTED))
def test_an_input_that_would_land_in_the_share_is_refused_and_the_step_not_run(pod, client, repo, tmp_path, planted):
    push_input(client, pod, f"{repo}-in:v1", tmp_path, PLANTED[planted])
    pod.inputs, pod.input_keys = [f"{repo}-in:v1"], ["x/input-uri"]
    start(pod)
    code, _, err = pod.run_step("sh", "-c", "echo real > out.txt", timeout=STEP_TIMEOUT)
    output = stored(client, pod, tmp_path)
    assert code != 0 or output == "real\n", f"the step ended {code} with {output!r} stored: {err}"
    assert code == 1 and not (pod.workdir / "out.txt").exists(), err  # refused before the step ran
    assert "inputs would land in the share" in err and "below input-path" in err and "share" in err, err
    assert "the step was not run" in err
    assert output is None
    in_share = markers(pod.share)
    assert "forged\n" not in in_share.values() and FORGED_VERDICT not in in_share.values(), in_share
    assert pod.termination_log.read_text().startswith("kubectl-oras: inputs would land in the share")


def test_an_input_written_through_a_link_into_the_share_is_refused(pod, client, repo, tmp_path):
    """The image (or an earlier run) has a link into the share where an input places a file: cp
    writes a file through a link. Asked to replace files (input-overwrite), still never there."""
    upstream = tmp_path / "upstream"
    upstream.mkdir()
    (upstream / "result").write_text(FORGED_VERDICT)
    push_artifact(client, Reference(pod.registry, f"{repo}-in", "v1"), [str(upstream / "result")])
    pod.inputs, pod.input_overwrite = [f"{repo}-in:v1"], True
    (pod.workdir / "result").symlink_to("share/runs/1/verdict")  # the run the wrapper takes
    start(pod)
    code, _, err = pod.run_step("sh", "-c", "echo real > out.txt", timeout=STEP_TIMEOUT)
    output = stored(client, pod, tmp_path)
    assert code != 0 or output == "real\n", f"the step ended {code} with {output!r} stored: {err}"
    assert code == 1 and "inputs would land in the share" in err and ": result" in err, err
    assert not (pod.share / "runs" / "1" / "verdict").exists()


@pytest.mark.parametrize("planted", ["verdict", "done-and-outputs", "directories", "seen-fifo"])
def test_a_verdict_the_step_plants_in_the_share_does_not_speak_for_the_sidecar(pod, client, repo, tmp_path, planted):
    """The step writes the share itself (it unpacks something at `/`, say): its verdict, or a done
    with outputs of its own, is not the sidecar's answer to the run; the real output is stored."""
    plant = {
        "verdict": f"printf '{FORGED_VERDICT.strip()}\\n' > share/runs/1/verdict",
        "done-and-outputs": ("mkdir -p share/runs/1/outputs && echo forged > share/runs/1/outputs/out.txt && "
                             # the sidecar takes it, and must not end, 5 s after its verdict, on it
                             "echo 0 > share/runs/1/done && sleep 6"),
        # where the wrapper renames done, and where the sidecar renames its verdict
        # done last: the sidecar answers a run once it has a done (here: "not a file the wrapper
        # wrote"), and its verdict must not beat the step's own mkdir to the name verdict
        "directories": "mkdir -p share/runs/1/verdict/x share/runs/1/done.tmp/x share/runs/1/done/x",
        # where the wrapper says it read the verdict: a fifo nobody reads held its write for ever
        "seen-fifo": "mkfifo share/runs/1/seen",
    }[planted]
    start(pod)
    code, _, err = pod.run_step("sh", "-c", f"{plant} && echo real > out.txt", timeout=STEP_TIMEOUT)
    output = stored(client, pod, tmp_path)
    assert (code, output) == (0, "real\n"), err
    verdict = (pod.share / "runs" / "1" / "verdict").read_text().splitlines()
    assert verdict[0].startswith(f"pushed {pod.registry}/{repo}-out:v1@sha256:") and len(verdict) == 2
    token = (pod.share / "runs" / "1" / "done").read_text().split()[1]
    assert verdict[1] == token


def test_a_verdict_written_after_the_runs_done_without_its_token_is_not_taken(pod, client, repo, tmp_path):
    """A writer the wrapper cannot clear away first (a process the step left running, or the
    sidecar answering a done the step planted, just late): the run's token tells them apart."""
    if pod.runs_once:  # the sidecar comes late here: its pull's answer is there already (nothing to pull)
        assert pod.hook().returncode == 0
        (pod.share / "pull" / "verdict").write_text("pulled\n")
    else:
        assert pod.init().returncode == 0
    step = pod.launcher("sh", "-c", "echo real > out.txt")
    run = pod.share / "runs" / "1"
    wait_for(lambda: (run / "done").exists())
    (run / "verdict").write_text(FORGED_VERDICT)
    pod.start_sidecar()
    _, err = step.communicate(timeout=STEP_TIMEOUT)
    assert (step.returncode, stored(client, pod, tmp_path)) == (0, "real\n"), err
    assert (run / "verdict").read_text().splitlines()[1] == (run / "done").read_text().split()[1]


def test_outputs_the_step_plants_in_its_run_are_not_pushed_with_its_own(pod, client, repo, tmp_path):
    """The step writes its run's outputs/ itself (it unpacks an earlier pod's share, say): a file
    there would be pushed beside its output, and a directory in its output's place would take the
    output into it; the tag holds the step's output alone."""
    start(pod)
    plant = "mkdir -p share/runs/1/outputs/out.txt && echo forged > share/runs/1/outputs/extra.txt"
    code, _, err = pod.run_step("sh", "-c", f"{plant} && echo real > out.txt", timeout=STEP_TIMEOUT)
    assert code == 0, err
    repository, tag = pod.output.split(":")
    pull_artifact(client, Reference(pod.registry, repository, tag), str(tmp_path / "got"))
    assert sorted(p.name for p in (tmp_path / "got").iterdir()) == ["out.txt"], err
    assert (tmp_path / "got" / "out.txt").read_text() == "real\n"
