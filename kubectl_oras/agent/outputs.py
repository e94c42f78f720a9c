"""oras-push, the native sidecar: push each run's outputs when the step is done, say how it went.

It watches the share for run directories whose ``done`` marker has no ``verdict`` yet (also
after its own restart), pushes per policy, writes ``verdict`` atomically, and goes on watching:
a launcher restarted in the same pod starts a new run. SIGTERM ends it; a run whose step never
finished (no ``done``) is never pushed. It pulls the inputs first, and again when a launcher
started again after a failed pull asks (pull_in_sidecar.py). When the launcher is the pod's only
container it ends by itself once the run's verdict is read (restartPolicy Never), or once a run
that succeeded has been read (OnFailure), so the kubelet sees the pod's end in one look.
"""

from __future__ import annotations

import os
import re
import stat
import sys
import threading
import time
import traceback
from typing import TYPE_CHECKING

from ..errors import OrasError
from ..pods.share import NOT_PUSHED, PUSH_FAILED, PUSHED, Run, saying
from ..pods.step import EXIT_CODE_ANNOTATION, FAILED_TAG_SUFFIX, JOB_UID_ENV, StepDescription
from ..times import now_rfc3339
from . import connection, provenance, pull_in_sidecar
from .markers import read_marker, wake, write_marker

if TYPE_CHECKING:
    from ..oci.push import PushResult

POLL_SECONDS = 0.02  # the hand-off costs at most this; a stat of one file per run, 50 times a second


DONE_MAX_BYTES = 128  # an exit code, the run's token and a newline; more is not a marker the wrapper wrote
VERDICT_MAX_BYTES = 64 * 1024  # the verdict's line and the token's; a verdict is cut well below this
RUN_TOKEN = re.compile(r"[A-Za-z0-9-]{1,64}")  # a uuid from the kernel, or hex digits


def write_verdict(run: Run, verdict: str, token: str) -> None:
    """Write ``verdict`` atomically, with the run's token (from ``done``) on the line after it, and
    wake the waiting wrapper. The wrapper takes a verdict only with its token, which it made once
    the step had ended: nothing an input or the step put in the share can answer for the sidecar
    (markers.py: nothing in the run directory, which the step can write, is trusted)."""
    write_marker(run.verdict, verdict[:VERDICT_MAX_BYTES // 4], token)  # whole, or the token would be cut off
    wake(run.wake)


def done_token(run: Run) -> str:
    """The token in the run's ``done``; "" when there is none that the wrapper could have written."""
    try:
        return read_done(run)[1]
    except RunUnusable:
        return ""


def is_answered(run: Run) -> bool:
    """Whether the run's verdict answers the ``done`` there now: a file of the sidecar's holding
    done's token. Anything else (a verdict an input or the step put there, one answering a done
    that was replaced since) leaves the run to be answered again."""
    verdict = read_marker(run.verdict, VERDICT_MAX_BYTES)
    return verdict is not None and verdict.split("\n")[1:2] == [done_token(run)]


def failed_tag(tag: str) -> str:
    return (tag[: 128 - len(FAILED_TAG_SUFFIX)]) + FAILED_TAG_SUFFIX


class RunUnusable(OrasError):
    """A run directory the sidecar cannot work with (written by something other than the wrapper)."""


def read_done(run: Run) -> tuple[int, str]:
    """The code in ``done`` and the run's token beside it ("" if none): opened without following
    a link or blocking on a fifo, and only if it is a regular file, of which at most a few bytes are
    read (the step can write the share)."""
    try:
        fd = os.open(run.done, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as e:
        if os.path.islink(run.done):
            raise RunUnusable(f"run {run.number}: its done marker is a symbolic link; the sidecar never follows one") from None
        raise RunUnusable(f"run {run.number}: cannot open its done marker: {e.strerror}") from None
    try:
        kind = file_kind(os.fstat(fd).st_mode)
        if kind != "regular file":
            raise RunUnusable(f"run {run.number}: its done marker is a {kind}, not a file the wrapper wrote")
        raw = os.read(fd, DONE_MAX_BYTES + 1).decode("utf-8", "replace").strip()
    finally:
        os.close(fd)
    code, _, token = raw.partition(" ")
    try:
        return int(code or "1"), token if RUN_TOKEN.fullmatch(token) else ""
    except ValueError:
        raise RunUnusable(f"run {run.number}: its done marker holds {raw[:40]!r}, not an exit code") from None


def record_attempt(run: Run, token: str) -> None:
    """``pushing``, with the time and the token of the ``done`` it answers, before the push begins:
    a sidecar started again that finds it for the same ``done`` without a verdict knows the one
    before it died pushing (out of memory, say), and answers instead of pushing again, and dying
    again, for ever. Not written (a full disk): pushed anyway."""
    started = now_rfc3339()
    try:
        write_marker(run.pushing, f"started {started}", token)
    except OSError as e:
        print(f"kubectl-oras: run {run.number}: cannot record the push's start ({e.strerror or e}); pushing anyway",
              file=sys.stderr, flush=True)


def attempt_started(run: Run, token: str) -> str | None:
    """When an earlier sidecar started pushing for the ``done`` whose token is ``token`` (None if
    none did: a ``pushing`` for another ``done``, one the step planted before the wrapper's own
    ``done`` came, does not count)."""
    said = read_marker(run.pushing, 256)
    if said is None:
        return None
    lines = said.split("\n")
    if lines[1:2] != [token]:
        return None
    return lines[0].removeprefix("started ") if lines[0].startswith("started ") else "an unknown time"


def interrupted(run: Run, started: str) -> str:
    """The verdict for a run whose push an earlier sidecar started and never answered.

    Why it died is in the pod's status (the oras-push container's lastState.terminated.reason,
    OOMKilled for a sidecar over its memory limit), which the sidecar does not read (it makes no
    API requests, and the pod's ServiceAccount need not allow it): the verdict says what it
    knows, and where to look."""
    return (f"{PUSH_FAILED}: the push of run {run.number} was interrupted: the sidecar died while pushing (out of "
            f"memory, or killed) in an attempt started at {started}; it is not tried again in this pod "
            "(kubectl describe pod: the oras-push container's last state says why)")


def file_kind(mode: int) -> str:
    for test, kind in ((stat.S_ISREG, "regular file"), (stat.S_ISDIR, "directory"), (stat.S_ISLNK, "symbolic link"),
                       (stat.S_ISFIFO, "fifo"), (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "character device"),
                       (stat.S_ISBLK, "block device")):
        if test(mode):
            return kind
    return "special file"


def output_names(run: Run) -> list[str]:
    """The outputs the wrapper copied; a link among them is refused, never followed, and so is
    anything but a regular file or a directory (a fifo would hang the push, a device never ends).

    The wrapper resolves links in the step's filesystem before copying (docs/outputs.md), so a
    link here was put by something else, and would point into the sidecar's own filesystem.
    """
    outputs = run.outputs
    try:
        kind = file_kind(os.lstat(outputs).st_mode)
    except FileNotFoundError:
        return []
    if kind != "directory":
        raise RunUnusable(f"run {run.number}: its outputs directory is a {kind}; the sidecar never follows one")
    names = sorted(os.listdir(outputs))
    for name in names:
        kind = file_kind(os.lstat(os.path.join(outputs, name)).st_mode)
        if kind == "symbolic link":
            raise RunUnusable(f"output {name} is a symbolic link in the share; the sidecar never follows one")
        if kind not in ("regular file", "directory"):
            raise RunUnusable(f"output {name} is a {kind} in the share, not a file the wrapper copied")
    return names


def pushed_annotations(code: int) -> dict[str, str]:
    """What the sidecar writes on a manifest besides ``created``: the step's exit code, and the uid
    of the pod's Job when it has one (retention counts the tags one Job pushed as one run)."""
    from ..oci.manifest import ANNOTATION_JOB

    job = os.environ.get(JOB_UID_ENV, "")
    return {EXIT_CODE_ANNOTATION: str(code), **({ANNOTATION_JOB: job} if job else {})}


def push_run(step: StepDescription, run: Run, code: int, token: str, stop: threading.Event) -> str:
    """Push one finished run per policy; returns the verdict. Raises on what it cannot do.

    Once ``stop`` is set (SIGTERM: the kubelet stops the sidecar only after the launcher has
    ended, so its wrapper no longer waits for this verdict, and the pod fails), nothing more is
    tagged: a tag must not say that a step the pod reports as failed succeeded."""
    if step.output is None:
        return saying(NOT_PUSHED, "no output-uri")
    names = output_names(run)
    ref = connection.reference(step, step.output)
    if code != 0:
        if step.push_on_failure != "failed-tag" or not names:
            return saying(NOT_PUSHED, f"the step exited with {code}")
        ref = ref.with_tag(failed_tag(ref.tag or "latest"))
    if not names:
        return saying(PUSH_FAILED, "the step produced no output to push")
    from ..oci.push import push_artifact  # loaded by warm_up, in the background
    from ..oci.signals import alarm_after
    from ..provenance.record import manifest_annotations

    produced = provenance.producer(step, run, code, os.environ)
    record_attempt(run, token)
    result: PushResult | None = None  # set once the output's manifest is put: the output is stored
    try:
        # Absolute paths: each layer is titled with the output's own name. The step's timeout also
        # ends a push to a registry that only drips (the transport's own checks would not).
        with alarm_after(step.timeout, what=f"push {ref}"):
            client = connection.client(step, push=True)
            connection.wait_until_up(step, client, stop=stop)  # a cache created with the workflow may not be up yet
            result = push_artifact(client, ref, [os.path.join(run.outputs, n) for n in names],
                                   annotations={**pushed_annotations(code), **manifest_annotations(produced)},
                                   stop=stop)
            if not stop.is_set():  # the output is stored: its provenance never fails the step
                provenance.attach_statement(client, ref, result, produced)
    except OrasError as e:
        if result is None:
            if stop.is_set():
                return saying(PUSH_FAILED, f"pushing {ref}: the pod is going away (SIGTERM): {e}")
            return saying(PUSH_FAILED, f"pushing {ref}: {e}")
        # The step's timeout rang once the manifest was put (while the statement was built, or
        # before the alarm was switched off): the verdict follows what is stored.
        provenance.statement_not_attached(ref, result, e)
    return f"{PUSHED} {result.reference}@{result.digest}"


def handle_run(step: StepDescription, run: Run, stop: threading.Event) -> tuple[str, str]:
    """The verdict for one finished run, and the token from its ``done`` that the verdict answers:
    every failure is a verdict, so the wrapper never waits forever."""
    token = ""
    try:
        code, token = read_done(run)
        started = attempt_started(run, token)
        if started is not None:
            return interrupted(run, started), token
        return push_run(step, run, code, token, stop), token
    except OrasError as e:
        return saying(PUSH_FAILED, str(e)), token
    except OSError as e:  # e.g. an output the step made unreadable to us
        return saying(PUSH_FAILED, f"{e.filename}: {e.strerror}" if e.filename and e.strerror else str(e)), token
    except Exception as e:  # a bug of ours is still a verdict, never a crash (and a crash loop on this run)
        if step.debug:
            traceback.print_exc()
        return saying(PUSH_FAILED, f"unexpected error ({type(e).__name__}: {e})"), token


def warm_up(step: StepDescription) -> None:
    """Load everything a push uses (the HTTP stack, the engine, provenance) and build a client
    once, whose first construction loads more, so that a push after the launcher's run only
    sends. Run in the background from the sidecar's start, beside its pull: the launcher starts
    only after the postStart hook, and the push of a step that ends at once would otherwise wait
    for these imports (the pull of inputs loads the same modules). The client itself is not
    kept: the step's timeout is counted from a client's construction, so each push builds its
    own (a fraction of a ms)."""
    import netrc  # noqa: F401  (requests reads ~/.netrc on a session's first request)

    from ..oci import manifest, push, referrers, signals  # noqa: F401
    from ..provenance import record, statement  # noqa: F401

    try:
        connection.client(step, push=True)
    except Exception as e:  # e.g. credentials it cannot read: the push says so, on its run
        if step.debug:
            print(f"kubectl-oras: warming up the push's client: {type(e).__name__}: {e}", file=sys.stderr, flush=True)


def pending_runs(step: StepDescription) -> list[Run]:
    """Runs whose step is done and that have no verdict of the sidecar's for that ``done`` yet."""
    return [run for run in run_dirs(step) if os.path.lexists(run.done) and not is_answered(run)]


def run(step: StepDescription, *, stop: threading.Event) -> int:
    """Watch until ``stop`` is set (by SIGTERM, see __main__), or, when the launcher runs once
    (``single_run``), until that run has its verdict and the wrapper has read it. When the
    sidecar pulls (``pull_in_sidecar``), it does that first (pull_in_sidecar.py).

    The HTTP stack (requests, oras-py: ~0.3 s of imports) loads in the background while the
    step runs (``warm_up``), so the hand-off after ``done`` does not wait for it.
    """
    threading.Thread(target=warm_up, args=(step,), name="warm-up", daemon=True).start()
    unwritten = pull_in_sidecar.pull(step, stop) if step.pull_in_sidecar else None  # an answer the share refused
    pull_failed = step.pull_in_sidecar and (unwritten is not None or pull_in_sidecar.failed_answer(step.layout))
    next_answer = time.monotonic() + 1
    # verdicts not written yet (the share refused them), with their tokens: retried, not re-pushed
    decided: dict[str, tuple[str, str]] = {}
    reported: set[str] = set()
    pulled_again: set[int] = set()  # the runs this sidecar pulled again for
    while not stop.is_set():
        if unwritten is not None and time.monotonic() >= next_answer:
            unwritten = pull_in_sidecar.answer_again(step.layout, unwritten, report=False)
            next_answer = time.monotonic() + 1
        try:
            if step.pull_in_sidecar and unwritten is None and (
                    asking := pull_in_sidecar.asked_again(step.layout, run_dirs(step), pulled_again)):
                pulled_again.add(asking.number)
                unwritten = pull_in_sidecar.pull_again(step, asking, stop)
                next_answer = time.monotonic() + 1
            for pending in pending_runs(step):
                answer = decided.pop(pending.path, None)
                if answer is None or answer[1] != done_token(pending):  # not decided, or for another done
                    answer = handle_run(step, pending, stop)
                    print(f"kubectl-oras: {pending.number}: {answer[0]}", file=sys.stderr, flush=True)
                try:
                    write_verdict(pending, *answer)
                except OSError as e:
                    decided[pending.path] = answer
                    _report_once(reported, f"run {pending.number}: cannot write the verdict: {e}")
            if step.single_run and pull_failed and (acknowledged := seen_run(step)):
                print(f"kubectl-oras: run {acknowledged.number} read the failed pull's answer and the launcher runs "
                      "once (restartPolicy Never): the sidecar ends", file=sys.stderr, flush=True)
                return 0
            if step.single_run and (answered := answered_run(step)):
                # With nothing to push, the wrapper waits for no verdict. A run whose done is
                # replaced meanwhile (the verdict answered one the step planted) is served again.
                if step.output is not None and not wait_until_seen(answered, stop):
                    continue
                print(f"kubectl-oras: run {answered.number} has its verdict and the launcher runs once "
                      "(restartPolicy Never): the sidecar ends", file=sys.stderr, flush=True)
                return 0
            if step.ends_after_success and (succeeded := succeeded_run(step)):
                print(f"kubectl-oras: run {succeeded.number} succeeded and its verdict is read; the launcher is not "
                      "started again after a success (restartPolicy OnFailure): the sidecar ends", file=sys.stderr,
                      flush=True)
                return 0
        except Exception as e:  # the watch itself never ends on an error: a new run may still be served
            _report_once(reported, f"watching {step.layout.runs}: {type(e).__name__}: {e}")
        stop.wait(POLL_SECONDS)
    return 0


SEEN_WAIT_SECONDS = 5.0  # the wrapper makes ``seen`` within ms of the verdict; this only bounds a killed one


def run_dirs(step: StepDescription) -> list[Run]:
    """The launcher's runs in the share, oldest first (a link is not the wrapper's: left alone)."""
    share = step.layout
    try:
        entries = os.listdir(share.runs)
    except FileNotFoundError:
        return []
    runs = (share.run(int(e)) for e in sorted((e for e in entries if e.isdigit()), key=int))
    return [run for run in runs if not os.path.islink(run.path)]


def answered_run(step: StepDescription) -> Run | None:
    """The launcher's last finished run, once every finished run (with a ``done`` holding a run's
    token) has its verdict. A run directory without ``done`` is a step still running, or not the
    wrapper's, and a ``done`` without a token is not the wrapper's (it is answered all the same):
    none of them is waited for here, nor ends the sidecar before the wrapper's own ``done``."""
    finished = [run for run in run_dirs(step) if done_token(run)]
    if finished and all(is_answered(run) for run in finished):
        return finished[-1]
    return None


def succeeded_run(step: StepDescription) -> Run | None:
    """The launcher's last finished run, when it succeeded and its wrapper has read so: its step
    exited 0, its verdict says the outputs are stored (or that there were none to push), and,
    with outputs, ``seen`` holds its token (the wrapper exits 0 right after). Without ``seen`` the
    sidecar does not end: a wrapper killed before reading a verdict fails its run, and the
    launcher runs again (the kubelet stops the sidecar itself once the pod is done)."""
    finished = [run for run in run_dirs(step) if done_token(run)]
    if not finished or not all(is_answered(run) for run in finished):
        return None
    last = finished[-1]
    try:
        code, token = read_done(last)
    except RunUnusable:
        return None
    verdict = (read_marker(last.verdict, VERDICT_MAX_BYTES) or "").split("\n")[0]
    if code != 0 or not verdict.startswith((PUSHED + " ", NOT_PUSHED + ":")):
        return None
    if step.output is not None and (read_marker(last.seen, DONE_MAX_BYTES) or "").strip() != token:
        return None
    return last


def seen_run(step: StepDescription) -> Run | None:
    """A run whose wrapper has read the pull's failed answer (it made ``seen``, and exits 1)."""
    return next((run for run in run_dirs(step) if os.path.lexists(run.seen)), None)


def wait_until_seen(run: Run, stop: threading.Event) -> bool:
    """Until the wrapper says it has read the verdict (it exits right after), for at most
    SEEN_WAIT_SECONDS: a sidecar that ended while the launcher still ran would be started again.
    The wrapper writes the run's token into ``seen``; an empty or other ``seen`` (planted) is not
    its word. False when the run is no longer answered: its ``done`` was replaced (the verdict
    answered one the step planted), and the wrapper still waits for the answer to its own."""
    deadline = time.monotonic() + SEEN_WAIT_SECONDS
    while time.monotonic() < deadline and not stop.is_set():
        token = done_token(run)
        if token and (read_marker(run.seen, DONE_MAX_BYTES) or "").strip() == token:
            return True
        if not is_answered(run):
            return False
        stop.wait(POLL_SECONDS)
    return True


def _report_once(reported: set[str], message: str) -> None:
    if message not in reported:
        reported.add(message)
        print(f"kubectl-oras: {message}", file=sys.stderr, flush=True)
