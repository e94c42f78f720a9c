"""The leader's Events on step pods (what `kubectl describe pod` and `describe job` show): the
inputs pulled or not, the outputs pushed or not, as the pod's status says its agent reported
(kubectl_oras/pods/step_reports.py).

Driven by an informer of the pods the injection labelled (injection.STEP_LABEL): each change
reads the pod's reports, and one loop records those not recorded yet. One Event per (pod uid,
container, verdict): its name is derived from the three, so the apiserver refuses it a second
time, after a restart or a change of leader too. An Event the apiserver refuses otherwise is
tried again after a back-off, for as long as the pod is there.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any

from kubectl_oras.backoff import Backoff
from kubectl_oras.pods.share import PULL_FAILED, PULLED, PUSH_FAILED, PUSHED
from kubectl_oras.pods.step_reports import AgentReport, agent_reports
from kubectl_oras.tasks import cancel_and_wait

from .events import EventRecorder

log = logging.getLogger("kubectl_oras.controller")
# The Event's type and reason for each verdict (docs/controller.md, Events on step pods).
REASONS = {
    PULLED: ("Normal", "InputsPulled"),
    PULL_FAILED: ("Warning", "InputsPullFailed"),
    PUSHED: ("Normal", "OutputsPushed"),
    PUSH_FAILED: ("Warning", "OutputsPushFailed"),
}
# 1 s doubling to a minute: an Event the apiserver refused for a reason other than being there.
RECORD_BACKOFF = Backoff(base=1.0, cap=60.0)
MAX_ATTEMPTS = 12  # about ten minutes of refusals at the back-off: then the Event is given up, logged
NAME_LIMIT = 253  # an Event's name is a DNS subdomain

Key = tuple[str, str, str]  # pod uid, container, verdict


def event_name(pod_name: str, key: Key) -> str:
    """The one name of the Event for ``key`` on the pod: ``POD.<16 hex digits>``."""
    digest = hashlib.sha256("/".join(key).encode()).hexdigest()[:16]
    return f"{pod_name[:NAME_LIMIT - len(digest) - 1]}.{digest}"


class StepEvents:
    def __init__(self, events: EventRecorder, *, backoff: Backoff | None = None) -> None:
        self.events = events
        self.backoff = backoff or RECORD_BACKOFF
        self.pending: dict[Key, tuple[dict[str, Any], AgentReport]] = {}
        self.recorded: set[Key] = set()
        self.attempts: dict[Key, int] = {}  # refusals of each pending Event so far
        self.wake = asyncio.Event()

    def changed(self, kind: str, obj: dict[str, Any]) -> None:
        """An informer's on_change: note what the pod reports that has no Event yet."""
        uid = str((obj.get("metadata") or {}).get("uid") or "")
        if kind == "DELETED":
            self.recorded = {key for key in self.recorded if key[0] != uid}
            self.pending = {key: value for key, value in self.pending.items() if key[0] != uid}
            self.attempts = {key: n for key, n in self.attempts.items() if key[0] != uid}
            return
        for report in agent_reports(obj):
            key = (uid, report.container, report.word)
            if uid and key not in self.recorded:
                self.pending[key] = (obj, report)
                self.wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop``: record each pending Event, again after a back-off if refused. Each is
        tried on its own: one the apiserver keeps refusing (a namespace being deleted) holds up no
        other, and is given up after MAX_ATTEMPTS refusals."""
        while not stop.is_set():
            self.wake.clear()
            delay = None
            for key, (pod, report) in list(self.pending.items()):
                kind, reason = REASONS[report.word]
                name = event_name(str((pod.get("metadata") or {}).get("name")), key)
                if not await self.events.once(pod, kind, reason, report.message, name=name):
                    attempts = self.attempts[key] = self.attempts.get(key, 0) + 1
                    if attempts >= MAX_ATTEMPTS:
                        log.warning("giving up the %s Event on pod %s after %d refusals", reason, name.split(".")[0],
                                    attempts)
                        self.pending.pop(key, None)
                        self.attempts.pop(key, None)
                    else:
                        after = self.backoff.delay(attempts)
                        delay = after if delay is None else min(delay, after)
                    continue
                self.attempts.pop(key, None)
                if self.pending.get(key, (None, None))[1] == report:
                    del self.pending[key]
                    self.recorded.add(key)
            waiting = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.wake.wait())}
            try:
                await asyncio.wait(waiting, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
            finally:
                await cancel_and_wait(waiting)
