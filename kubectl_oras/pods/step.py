"""The step contract: what the injection tells the agent containers and the wrapper.

``StepDescription`` is written by the injection (JSON in ``KUBECTL_ORAS_STEP``) and read by the
agent; ``wrapper_environment`` is what the launcher's wrapper is given. Both sides import this
module, so the two can never disagree about a field. No credentials ever pass through here:
they reach the agent containers from a Secret (envFrom).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..durations import positive_seconds
from ..errors import OrasError
from .share import EXIT_CODES, VERDICT_WORDS, Run, Share

STEP_ENV = "KUBECTL_ORAS_STEP"
PUSH_ON_FAILURE = ("never", "failed-tag")  # what happens to the outputs of a step that failed
FAILED_TAG_SUFFIX = "-failed"  # failed-tag pushes to <tag>-failed; a tag pattern takes those only if asked (patterns.py)
_REQUIRED = object()
WRAPPER_ENV_PREFIX = "KUBECTL_ORAS_"
EXIT_CODE_ANNOTATION = "dev.kubectl-oras.exit-code"  # on every artifact the sidecar pushes
# The agents' environment: the uid of the pod's Job (the downward API, from the label the Job
# controller sets; empty for a pod no Job made), which the sidecar writes on what it pushes.
JOB_UID_ENV = "KUBECTL_ORAS_JOB_UID"
JOB_UID_FIELD = "metadata.labels['batch.kubernetes.io/controller-uid']"
# The agents' environment for provenance (docs/provenance.md), from the downward API: the pod's
# name (generated after admission for a Job's pods), its namespace, and the node it runs on.
POD_ENV = {"KUBECTL_ORAS_POD_NAME": "metadata.name", "KUBECTL_ORAS_POD_NAMESPACE": "metadata.namespace",
           "KUBECTL_ORAS_NODE_NAME": "spec.nodeName"}


def _as_tuple(kinds: type | tuple[type, ...]) -> tuple[type, ...]:
    return kinds if isinstance(kinds, tuple) else (kinds,)


class InvalidStep(OrasError):
    """KUBECTL_ORAS_STEP is missing or does not describe a step."""


@dataclass(frozen=True)
class StepDescription:
    """Where the artifacts live and which ones this step pulls and pushes."""

    registry: str  # HOST:PORT
    plain_http: bool
    inputs: tuple[str, ...]  # repo:tag or repo@digest under ``registry``
    output: str | None
    unpack: bool
    push_on_failure: str  # "never" or "failed-tag"
    debug: bool
    share: str
    timeout: float | None = None  # seconds a whole pull or push may take (annotation `timeout`)
    input_keys: tuple[str, ...] = ()  # the annotation each input came from, for messages (empty: not known)
    # The sidecar pulls (no init container whose exit the kubelet must notice); false only in a
    # pod spec from before every restart policy had this shape, which has an oras-pull.
    pull_in_sidecar: bool = False
    # restartPolicy Never and the launcher the only container: the sidecar ends by itself after
    # the run's verdict, and the kubelet sees both containers end together (docs/pod-protocol.md).
    single_run: bool = False
    # restartPolicy OnFailure and the launcher the only container: the sidecar ends by itself
    # after a run that succeeded (its outputs stored), after which the kubelet starts nothing again.
    ends_after_success: bool = False
    input_wait: float | None = None  # seconds the pull waits for inputs not pushed yet (annotation `input-wait`)
    # how many tags each input's pattern must match (annotation `input-count`), None where none is
    # asked; one per input (empty: none anywhere)
    input_counts: tuple[int | None, ...] = ()
    # What the provenance of the outputs says of the step (docs/provenance.md): the launcher's
    # image and command as its spec writes them, its controller (Kind/name), and the annotations
    # of ours that shaped it (full keys). Never a credential: the spec's $(VAR) stay unexpanded.
    image: str = ""
    argv: tuple[str, ...] = ()
    workload: str = ""
    shaped_by: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> str:
        main = json.dumps({
            "registry": self.registry, "plainHttp": self.plain_http, "inputs": list(self.inputs),
            "output": self.output, "unpack": self.unpack, "pushOnFailure": self.push_on_failure,
            "debug": self.debug, "share": self.share, "timeout": self.timeout, "inputKeys": list(self.input_keys),
            "pullInSidecar": self.pull_in_sidecar, "singleRun": self.single_run,
            "endsAfterSuccess": self.ends_after_success, "inputWait": self.input_wait,
            "inputCounts": list(self.input_counts),
        }, separators=(",", ":"))
        if not (self.image or self.argv or self.workload or self.shaped_by):
            return main
        # Said as written: every "$" escaped in the JSON, so the kubelet expands no $(VAR) of the
        # step's command in this env value (a credential's variable would land in the provenance).
        told = json.dumps({"image": self.image, "argv": list(self.argv), "workload": self.workload,
                           "shapedBy": dict(self.shaped_by)}, separators=(",", ":")).replace("$", "\\u0024")
        return main[:-1] + "," + told[1:]

    @classmethod
    def from_json(cls, raw: str) -> StepDescription:
        """Read what the injection wrote; InvalidStep naming the field for anything else."""
        try:
            d = json.loads(raw)
        except (ValueError, RecursionError) as e:
            raise InvalidStep(f"{STEP_ENV} is not JSON: {e}") from None
        if not isinstance(d, dict):
            raise InvalidStep(f"{STEP_ENV} is not a JSON object")

        def field(name: str, kinds: type | tuple[type, ...], default: Any = _REQUIRED) -> Any:
            if name not in d or d[name] is None:
                if default is _REQUIRED:
                    raise InvalidStep(f"{STEP_ENV} is missing field {name!r}")
                return default
            value = d[name]
            if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in _as_tuple(kinds)):
                raise InvalidStep(f"{STEP_ENV}: field {name!r} has the wrong type ({type(value).__name__})")
            return value

        inputs = field("inputs", list, [])
        if not all(isinstance(i, str) for i in inputs):
            raise InvalidStep(f"{STEP_ENV}: field 'inputs' must list strings")
        input_keys = field("inputKeys", list, [])
        if not all(isinstance(k, str) for k in input_keys) or len(input_keys) not in (0, len(inputs)):
            raise InvalidStep(f"{STEP_ENV}: field 'inputKeys' must list one string per input")
        policy = field("pushOnFailure", str, "never")
        if policy not in PUSH_ON_FAILURE:
            raise InvalidStep(f"{STEP_ENV}: field 'pushOnFailure' is {policy!r}, not one of {', '.join(PUSH_ON_FAILURE)}")
        timeout, input_wait = field("timeout", (int, float), None), field("inputWait", (int, float), None)
        for name, seconds in (("timeout", timeout), ("inputWait", input_wait)):
            try:
                if seconds is not None:
                    positive_seconds(seconds, seconds)
            except ValueError as e:
                raise InvalidStep(f"{STEP_ENV}: field {name!r}: {e}") from None
        input_counts = field("inputCounts", list, [])
        if len(input_counts) not in (0, len(inputs)) or not all(
                c is None or (isinstance(c, int) and not isinstance(c, bool) and c > 0) for c in input_counts):
            raise InvalidStep(f"{STEP_ENV}: field 'inputCounts' must list one positive number or null per input")
        argv, shaped_by = field("argv", list, []), field("shapedBy", dict, {})
        if not all(isinstance(a, str) for a in argv) or not all(isinstance(v, str) for v in shaped_by.values()):
            raise InvalidStep(f"{STEP_ENV}: fields 'argv' and 'shapedBy' must hold strings")
        registry, share = field("registry", str), field("share", str)
        if not registry or not share:
            raise InvalidStep(f"{STEP_ENV}: fields 'registry' and 'share' must not be empty")
        return cls(registry=registry, plain_http=field("plainHttp", bool), inputs=tuple(inputs),
                   output=field("output", str, None), unpack=field("unpack", bool, True), push_on_failure=policy,
                   debug=field("debug", bool, False), share=share,
                   timeout=float(timeout) if timeout is not None else None, input_keys=tuple(input_keys),
                   pull_in_sidecar=field("pullInSidecar", bool, False), single_run=field("singleRun", bool, False),
                   ends_after_success=field("endsAfterSuccess", bool, False),
                   input_wait=float(input_wait) if input_wait is not None else None, input_counts=tuple(input_counts),
                   image=field("image", str, ""), argv=tuple(argv), workload=field("workload", str, ""),
                   shaped_by=tuple(sorted(shaped_by.items())))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StepDescription:
        raw = (os.environ if environ is None else environ).get(STEP_ENV)
        if not raw:
            raise InvalidStep(f"{STEP_ENV} is not set: this container was not injected by kubectl-oras")
        return cls.from_json(raw)

    @property
    def layout(self) -> Share:
        return Share(self.share)

    def input_key(self, index: int) -> str:
        """What a message calls input ``index``: its annotation, when the injection said it."""
        return f"annotation {self.input_keys[index]}" if index < len(self.input_keys) else f"input {self.inputs[index]}"

    def input_count(self, index: int) -> int | None:
        """How many tags input ``index``'s pattern must match; None: any number but none."""
        return self.input_counts[index] if index < len(self.input_counts) else None


# How long the wrapper waits for the push's verdict. With a `timeout`, the push ends by then (its
# alarm covers the registry wait and the push), and the margin covers a sidecar that died and is
# started again by the kubelet after its back-off (10 s, doubling, at most 5 min), which then
# answers push-failed (outputs.py). Without one, a push may take as long as its bytes do: the
# default is generous, and a `timeout` is how to make it shorter.
VERDICT_MARGIN = 600
DEFAULT_VERDICT_WAIT = 6 * 3600


def verdict_wait(timeout: float | None) -> int:
    """The wrapper's bound on its wait for the verdict, in whole seconds."""
    return DEFAULT_VERDICT_WAIT if timeout is None else int(timeout) + 1 + VERDICT_MARGIN


def pull_wait(timeout: float | None, input_wait: float | None) -> int:
    """The wrapper's bound on its wait for the sidecar's answer to the inputs' pull, in whole
    seconds: the verdict's bound (the `timeout` covers the input-wait and the pull), and without a
    timeout the default beside the input-wait, which the pull may spend before its first byte."""
    if timeout is not None:
        return verdict_wait(timeout)
    return DEFAULT_VERDICT_WAIT + math.ceil(input_wait or 0)


@dataclass(frozen=True)
class WrapperSettings:
    """What the launcher's wrapper does around the step's own command."""

    input_path: str | None
    output_path: str | None
    output_pipe: str | None
    push: bool
    debug: bool
    input_overwrite: bool = False  # inputs may replace files already in input-path (docs/outputs.md)
    # The sidecar pulls the inputs, not an init container: the wrapper waits for its answer
    # before the step, and runs nothing after a failed pull.
    pulled_by_sidecar: bool = False
    # Where the launcher's container keeps its termination message (its terminationMessagePath):
    # a failed pull's or push's reason goes there, for the pod's status.
    termination_log: str = "/dev/termination-log"
    # Seconds the wrapper waits for the sidecar's verdict once the step is done (verdict_wait).
    verdict_wait: int = DEFAULT_VERDICT_WAIT
    # Seconds the wrapper waits for the sidecar's answer to the inputs' pull (pull_wait).
    pull_wait: int = DEFAULT_VERDICT_WAIT


def wrapper_environment(settings: WrapperSettings, share: Share) -> dict[str, str]:
    """The environment the wrapper reads: its settings, the share's layout, the words the
    sidecar's answers begin with and the exit codes that say the agent failed the run (share.py)."""
    return {
        "KUBECTL_ORAS_SHARE": share.root,
        "KUBECTL_ORAS_SHARE_BUSYBOX": share.busybox,
        "KUBECTL_ORAS_SHARE_INPUTS": share.inputs,
        "KUBECTL_ORAS_SHARE_RUNS": share.runs,
        "KUBECTL_ORAS_RUN_DONE": Run.DONE,
        "KUBECTL_ORAS_RUN_VERDICT": Run.VERDICT,
        "KUBECTL_ORAS_RUN_WAKE": Run.WAKE,
        "KUBECTL_ORAS_RUN_OUTPUTS": Run.OUTPUTS,
        "KUBECTL_ORAS_RUN_STDOUT": Run.STDOUT,
        "KUBECTL_ORAS_RUN_SEEN": Run.SEEN,
        "KUBECTL_ORAS_RUN_PULL_AGAIN": Run.PULL_AGAIN,
        "KUBECTL_ORAS_RUN_STARTED": Run.STARTED,
        "KUBECTL_ORAS_PULL_VERDICT": share.pull_verdict if settings.pulled_by_sidecar else "",
        "KUBECTL_ORAS_PULL_WAKE": share.pull_wake if settings.pulled_by_sidecar else "",
        **{f"KUBECTL_ORAS_VERDICT_{name}": word for name, word in VERDICT_WORDS.items()},
        **{f"KUBECTL_ORAS_EXIT_{name}": str(code) for name, code in EXIT_CODES.items()},
        "KUBECTL_ORAS_TERMINATION_LOG": settings.termination_log,
        "KUBECTL_ORAS_VERDICT_WAIT": str(settings.verdict_wait),
        "KUBECTL_ORAS_PULL_WAIT": str(settings.pull_wait),
        "KUBECTL_ORAS_INPUT_PATH": settings.input_path or "",
        "KUBECTL_ORAS_INPUT_OVERWRITE": "1" if settings.input_overwrite else "0",
        "KUBECTL_ORAS_OUTPUT_PATH": settings.output_path or "",
        "KUBECTL_ORAS_OUTPUT_PIPE": settings.output_pipe or "",
        "KUBECTL_ORAS_PUSH": "1" if settings.push else "0",
        "KUBECTL_ORAS_DEBUG": "1" if settings.debug else "0",
    }
