"""What a step pod's agent has reported, read from the pod's status alone (the controller's
Events on the pod, docs/controller.md): no file in the share is read, so the pod needs no new
permission and nothing more runs in it.

The container statuses say it, by the pod's shape (docs/pod-protocol.md):

- the init-container shape (pods injected before the sidecar pulled under every restart
  policy): ``oras-pull`` ended with exit code 0 (``pulled``) or another (``pull-failed``, with
  its termination message when it left one);
- where the sidecar pulls: the launcher's termination message begins with
  ``pull-failed`` (the wrapper writes the sidecar's answer there and runs nothing); a launcher
  that ended with any other message ran the step, so the inputs were pulled;
- the push, either shape: the launcher's termination message begins with ``push-failed`` (the
  wrapper writes that verdict there), or the launcher ended with exit code 0: the wrapper
  reports success only once the sidecar's verdict was ``pushed`` (a step that failed ends
  non-zero, and is not pushed unless push-on-failure says so: that push is not reported here).

Only steps that pull something report a pull, and only steps with an output a push. Each
container state is read, the current one and the last (a restarted launcher's earlier run).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .injection import PULL_CONTAINER, PUSH_CONTAINER, SHARE, is_injected
from .share import PULL_FAILED, PULL_FAILED_EXIT, PULLED, PUSH_FAILED, PUSH_FAILED_EXIT, PUSHED
from .step import STEP_ENV, InvalidStep, StepDescription

LAUNCHER_COMMAND = [SHARE.busybox, "sh", SHARE.wrapper]  # what the injection makes the launcher run


@dataclass(frozen=True)
class AgentReport:
    """One verdict of the agent in one pod: ``word`` is share.py's (``pulled``, ``pull-failed``,
    ``pushed``, ``push-failed``); ``container`` the one whose status said it."""

    container: str
    word: str
    message: str


def step_of(pod: dict[str, Any]) -> StepDescription | None:
    """The step the injection described to the sidecar (None: not an injected pod, or not ours to read)."""
    if not is_injected(pod):
        return None
    for container in (pod.get("spec") or {}).get("initContainers") or []:
        if container.get("name") != PUSH_CONTAINER:
            continue
        for env in container.get("env") or []:
            if isinstance(env, dict) and env.get("name") == STEP_ENV and isinstance(env.get("value"), str):
                try:
                    return StepDescription.from_json(env["value"])
                except InvalidStep:
                    return None
    return None


def launcher_name(pod: dict[str, Any]) -> str | None:
    """The name of the container that runs the step through the wrapper."""
    for container in (pod.get("spec") or {}).get("containers") or []:
        if isinstance(container, dict) and container.get("command") == LAUNCHER_COMMAND:
            return str(container.get("name"))
    return None


def _endings(status: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The ``terminated`` states of one container status, the last run's first."""
    for field in ("lastState", "state"):
        ended = (status.get(field) or {}).get("terminated")
        if isinstance(ended, dict):
            yield ended


def _statuses(pod: dict[str, Any], field: str) -> dict[str, dict[str, Any]]:
    return {str(s.get("name")): s for s in (pod.get("status") or {}).get(field) or [] if isinstance(s, dict)}


MAX_MESSAGE = 256  # an Event says the first line of the pod's own termination message, cut short


def _message(ended: dict[str, Any]) -> str:
    """The first line of a termination message, at most MAX_MESSAGE characters: the text is the
    pod's own (anyone who can run a pod can write it), so an Event repeats no more of it."""
    message = ended.get("message")
    if not isinstance(message, str) or not message.strip():
        return ""
    line = message.strip().splitlines()[0]
    return line if len(line) <= MAX_MESSAGE else line[:MAX_MESSAGE - 1] + "…"


def _ran_the_step(ended: dict[str, Any]) -> bool:
    """Whether a launcher's ending shows the sidecar's pull succeeded (it ran the step): it exited 0,
    failed only its push, or ended with a code of the step's own. A kill (128 and above), a
    container that never started, or the pull's own code say nothing of the pull, or its failure."""
    code = ended.get("exitCode")
    if not isinstance(code, int) or isinstance(code, bool):
        return False
    if ended.get("reason") in ("StartError", "ContainerCannotRun"):
        return False
    return code in (0, PUSH_FAILED_EXIT) or (0 < code < 128 and code != PULL_FAILED_EXIT)


def _first_word(message: str) -> str:
    return message.split(":", 1)[0].split(None, 1)[0] if message.strip() else ""


def agent_reports(pod: dict[str, Any]) -> list[AgentReport]:
    """Every verdict the pod's status shows its agent reached, each once (the first seen)."""
    step = step_of(pod)
    launcher = launcher_name(pod)
    if step is None or launcher is None:
        return []
    found: dict[str, AgentReport] = {}

    def report(container: str, word: str, message: str) -> None:
        found.setdefault(word, AgentReport(container, word, message))

    inputs = ", ".join(step.inputs)
    pulling = _statuses(pod, "initContainerStatuses").get(PULL_CONTAINER)
    if step.inputs and pulling is not None:
        for ended in _endings(pulling):
            if ended.get("exitCode") == 0:
                report(PULL_CONTAINER, PULLED, f"{PULLED} {inputs}")
            else:
                report(PULL_CONTAINER, PULL_FAILED, _message(ended) or
                       f"{PULL_FAILED}: {PULL_CONTAINER} exited {ended.get('exitCode')} pulling {inputs} "
                       f"(kubectl logs POD -c {PULL_CONTAINER})")
    status = _statuses(pod, "containerStatuses").get(launcher) or {}
    for ended in _endings(status):
        message = _message(ended)
        word = _first_word(message)
        if step.inputs and step.pull_in_sidecar:
            if word == PULL_FAILED or ended.get("exitCode") == PULL_FAILED_EXIT:
                report(launcher, PULL_FAILED, message or f"{PULL_FAILED}: {inputs}")
                continue
            if _ran_the_step(ended):
                report(launcher, PULLED, f"{PULLED} {inputs}")
        if step.output is None:
            continue
        if word == PUSH_FAILED:
            report(launcher, PUSH_FAILED, message)
        elif ended.get("exitCode") == 0:
            report(launcher, PUSHED, f"{PUSHED} {step.output}")
    return list(found.values())
