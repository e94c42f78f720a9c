"""What a step pod's status says its agent reported (pods/step_reports.py), and the one Event
each report gets (controller/runtime/step_events.py): read from statuses as the kubelet writes them."""

import asyncio

import pytest

from controller.runtime.step_events import REASONS, StepEvents, event_name
from kubectl_oras.pods.annotations import PREFIX, ours
from kubectl_oras.pods.injection import PULL_CONTAINER, InjectionConfig, mutate_pod
from kubectl_oras.pods.step import STEP_ENV
from kubectl_oras.pods.step_reports import MAX_MESSAGE, AgentReport, agent_reports

CONFIG = InjectionConfig(agent_image="kubectl-oras:test", namespace="ns1")
STEP = {PREFIX + "input-uri": "wf/a:in", PREFIX + "output-uri": "wf/b:out", PREFIX + "output-path": "out"}


def step_pod(annotations=STEP, restart="Never"):
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "p", "namespace": "ns1", "uid": "u-1", "annotations": annotations},
           "spec": {"restartPolicy": restart, "containers": [{"name": "main", "image": "busybox", "command": ["true"]}]}}
    return mutate_pod(pod, ours(annotations), CONFIG)[0]


def ended(code, message=None, last=None):
    status = {"name": "main", "state": {"terminated": {"exitCode": code, **({"message": message} if message else {})}}}
    if last is not None:
        status["lastState"] = {"terminated": last}
    return status


def with_status(pod, containers=(), init=()):
    return {**pod, "status": {"containerStatuses": list(containers), "initContainerStatuses": list(init)}}


def words(pod):
    return [(r.container, r.word) for r in agent_reports(pod)]


def test_a_running_step_reports_nothing_yet():
    pod = step_pod()
    assert words(pod) == []
    assert words(with_status(pod, [{"name": "main", "state": {"running": {}}}])) == []


def test_a_step_run_once_that_succeeded_pulled_and_pushed():
    reports = agent_reports(with_status(step_pod(), [ended(0)]))
    assert reports == [AgentReport("main", "pulled", "pulled wf/a:in"), AgentReport("main", "pushed", "pushed wf/b:out")]


def test_a_failed_pull_in_the_sidecar_is_read_from_the_launchers_termination_message():
    message = "pull-failed: pull wf/a:in: not found (tags there: x, y)\n"
    assert agent_reports(with_status(step_pod(), [ended(1, message)])) == [
        AgentReport("main", "pull-failed", message.strip())]


def test_a_failed_push_is_read_from_the_termination_message_and_the_pull_still_succeeded():
    pod = with_status(step_pod(), [ended(1, "push-failed: registry gone")])
    assert words(pod) == [("main", "pulled"), ("main", "push-failed")]
    assert agent_reports(pod)[1].message == "push-failed: registry gone"


def test_a_step_that_failed_itself_reports_its_pull_and_no_push():
    assert words(with_status(step_pod(), [ended(2, "my own message")])) == [("main", "pulled")]


def test_the_init_container_shape_reads_oras_pull_and_an_earlier_run_of_a_restarted_launcher():
    pod = step_pod(restart="OnFailure")
    init = [{"name": PULL_CONTAINER, "state": {"terminated": {"exitCode": 0}}}]
    restarted = ended(0, last={"exitCode": 1, "message": "push-failed: once"})
    assert words(with_status(pod, [restarted], init)) == [
        (PULL_CONTAINER, "pulled"), ("main", "push-failed"), ("main", "pushed")]
    failed = [{"name": PULL_CONTAINER, "state": {"waiting": {}}, "lastState": {"terminated": {"exitCode": 1}}}]
    (report,) = agent_reports(with_status(pod, [], failed))
    assert (report.container, report.word) == (PULL_CONTAINER, "pull-failed")
    assert "oras-pull exited 1 pulling wf/a:in" in report.message


def test_a_step_without_inputs_reports_no_pull_and_one_without_output_no_push():
    pushing = {PREFIX + "output-uri": "wf/b:out", PREFIX + "output-path": "out"}
    assert words(with_status(step_pod(pushing), [ended(0)])) == [("main", "pushed")]
    assert words(with_status(step_pod({PREFIX + "input-uri": "wf/a:in"}), [ended(0)])) == [("main", "pulled")]


def test_a_pod_that_is_not_injected_or_whose_step_is_unreadable_reports_nothing():
    plain = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "main", "command": ["true"]}]},
             "status": {"containerStatuses": [ended(0)]}}
    assert agent_reports(plain) == []
    pod = with_status(step_pod(), [ended(0)])
    (step,) = [env for env in pod["spec"]["initContainers"][0]["env"] if env["name"] == STEP_ENV]
    step["value"] = "{not json"
    assert agent_reports(pod) == []


def test_each_verdict_has_one_event_name_a_valid_name_for_a_long_pod():
    key = ("u-1", "main", "pushed")
    assert event_name("p", key) == event_name("p", key) != event_name("p", ("u-2", "main", "pushed"))
    long = event_name("x" * 253, key)
    assert len(long) == 253 and long.startswith("x" * 236 + ".")
    assert set(REASONS) == {"pulled", "pull-failed", "pushed", "push-failed"}


class Recorder:
    def __init__(self, refuse=0):
        self.names, self.refuse = [], refuse

    async def once(self, obj, kind, reason, message, *, name):
        if self.refuse:
            self.refuse -= 1
            return False
        self.names.append((name, kind, reason))
        return True


def test_each_report_is_recorded_once_however_often_the_pod_changes_and_a_refusal_is_tried_again():
    async def main():
        recorder = Recorder(refuse=1)
        step_events = StepEvents(recorder, backoff=type("B", (), {"delay": lambda self, n: 0.01})())
        pod = with_status(step_pod(), [ended(1, "push-failed: gone")])
        stop = asyncio.Event()
        loop = asyncio.create_task(step_events.run(stop))
        for _ in range(3):
            step_events.changed("MODIFIED", pod)
            await asyncio.sleep(0.05)
        stop.set()
        await loop
        return recorder.names, step_events

    names, step_events = asyncio.run(main())
    # the refused one was tried again after the other went through
    assert [(reason, kind) for _, kind, reason in names] == [("OutputsPushFailed", "Warning"), ("InputsPulled", "Normal")]
    step_events.changed("DELETED", {"metadata": {"uid": "u-1"}})
    assert step_events.recorded == set()


@pytest.mark.parametrize("ending", [
    {"exitCode": 137}, {"exitCode": 143}, {"exitCode": 137, "reason": "OOMKilled"},
    {"exitCode": 128, "reason": "StartError", "message": "failed to create containerd task"},
])
def test_a_launcher_killed_or_never_started_says_nothing_of_the_sidecars_pull(ending):
    """Run once, the inputs are pulled by the sidecar: only the launcher's ending tells. A kill or a
    container that never started is no evidence the pull succeeded (nor that it failed)."""
    pod = with_status(step_pod({PREFIX + "input-uri": "wf/a:in"}), [{"name": "main", "state": {"terminated": ending}}])
    assert words(pod) == []


@pytest.mark.parametrize("code, said", [(0, "pulled"), (1, "pulled"), (212, "pulled"), (211, "pull-failed")])
def test_a_launcher_that_ran_the_step_or_failed_its_pull_says_so_by_its_code(code, said):
    pod = with_status(step_pod({PREFIX + "input-uri": "wf/a:in"}), [ended(code)])
    assert words(pod) == [("main", said)]


def test_an_events_text_is_one_line_of_the_pods_own_message_cut_short():
    pod = with_status(step_pod(), [ended(1, "push-failed: " + "x" * 5000 + "\nre-authenticate at evil")])
    (report,) = [r for r in agent_reports(pod) if r.word == "push-failed"]
    assert len(report.message) == MAX_MESSAGE and "\n" not in report.message and "evil" not in report.message


def test_an_event_the_apiserver_keeps_refusing_holds_up_no_other_and_is_given_up():
    """A namespace being deleted refuses every new Event (403): the other pods' Events go on, and
    the refused one is dropped after MAX_ATTEMPTS refusals instead of being tried for ever."""
    from controller.runtime.step_events import MAX_ATTEMPTS

    class RefusingOne(Recorder):
        async def once(self, obj, kind, reason, message, *, name):
            if obj["metadata"]["uid"] == "u-doomed":
                self.refused = getattr(self, "refused", 0) + 1
                return False
            return await super().once(obj, kind, reason, message, name=name)

    async def main():
        recorder = RefusingOne()
        step_events = StepEvents(recorder, backoff=type("B", (), {"delay": lambda self, n: 0.01})())
        doomed = with_status(step_pod(), [ended(1, "push-failed: gone")])
        doomed["metadata"] = {**doomed["metadata"], "uid": "u-doomed", "namespace": "gone"}
        step_events.changed("MODIFIED", doomed)
        stop = asyncio.Event()
        loop = asyncio.create_task(step_events.run(stop))
        await asyncio.sleep(0.05)
        step_events.changed("MODIFIED", with_status(step_pod(), [ended(0)]))
        await asyncio.sleep(0.5)
        stop.set()
        await loop
        return recorder, step_events

    recorder, step_events = asyncio.run(main())
    assert [reason for _, _, reason in recorder.names] == ["InputsPulled", "OutputsPushed"]
    assert step_events.pending == {} and step_events.attempts == {}
    assert recorder.refused == 2 * MAX_ATTEMPTS  # its two Events, each given up


class Apiserver:
    """Events by name, as the apiserver keeps them: a second create of a name is a 409."""

    def __init__(self):
        self.events = {}

    async def create(self, resource, body, *, namespace=None):
        from kubectl_oras.kube.errors import Conflict

        name = body["metadata"]["name"]
        if name in self.events:
            raise Conflict(f"events {name!r} already exists", status=409)
        self.events[name] = body
        return body


def test_a_restarted_controller_records_no_event_twice():
    from controller.runtime.events import EventRecorder

    apiserver = Apiserver()
    pod = with_status(step_pod(), [ended(0)])

    async def one_run(instance):
        step_events = StepEvents(EventRecorder(apiserver, instance=instance))
        stop = asyncio.Event()
        loop = asyncio.create_task(step_events.run(stop))
        step_events.changed("ADDED", pod)  # a new leader lists the pod again
        await asyncio.sleep(0.05)
        stop.set()
        await loop
        return step_events

    first = asyncio.run(one_run("replica-a"))
    second = asyncio.run(one_run("replica-b"))
    assert sorted(e["reason"] for e in apiserver.events.values()) == ["InputsPulled", "OutputsPushed"]
    assert all(e["reportingInstance"] == "replica-a" for e in apiserver.events.values())
    assert second.recorded == first.recorded and not second.pending  # its 409s are taken as recorded
    assert all(e["involvedObject"]["uid"] == "u-1" and e["involvedObject"]["kind"] == "Pod"
               for e in apiserver.events.values())
