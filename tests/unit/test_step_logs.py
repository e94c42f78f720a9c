"""`kubectl oras logs`' pure part (pods/step_logs.py): which containers of a pod, in the order they
ran, under which header; which pods a workload has."""

import json

import pytest

from kubectl_oras.errors import OrasError
from kubectl_oras.pods.annotations import PREFIX, ours
from kubectl_oras.pods.injection import InjectionConfig, mutate_pod
from kubectl_oras.pods.step_logs import container_logs, in_order, owned_by, pod_selector

CONFIG = InjectionConfig(agent_image="kubectl-oras:test", namespace="ns1")
STEP = {PREFIX + "input-uri": "wf/a:in", PREFIX + "output-uri": "wf/b:out", PREFIX + "output-path": "out"}


def step_pod(restart, init=()):
    pod = {"metadata": {"name": "p", "annotations": STEP},
           "spec": {"restartPolicy": restart, "initContainers": [{"name": n, "image": "x"} for n in init],
                    "containers": [{"name": "main", "image": "busybox", "command": ["true"]}]}}
    return mutate_pod(pod, ours(STEP), CONFIG)[0]


def running(*names):
    return [{"name": n, "state": {"running": {}}} for n in names]


def shown(parts):
    return [(p.container, p.role) for p in parts]


def test_every_restart_policy_has_the_sidecar_pull_and_push_after_the_own_inits_and_the_step():
    assert shown(container_logs(step_pod("OnFailure", init=["setup"]))) == [
        ("setup", "init container"), ("main", "the step"), ("oras-push", "the agent: pulls the inputs, then pushes the outputs")]


def test_a_pod_injected_with_the_older_init_container_shape_shows_the_pull_the_own_inits_the_step_then_the_push():
    pod = step_pod("OnFailure", init=["setup"])
    push = pod["spec"]["initContainers"][0]
    step = json.loads(push["env"][0]["value"])
    push["env"] = [{"name": "KUBECTL_ORAS_STEP", "value": json.dumps({**step, "pullInSidecar": False})}]
    pod["spec"]["initContainers"].insert(1, {**push, "name": "oras-pull"})
    assert shown(container_logs(pod)) == [
        ("oras-pull", "the agent: pulls the inputs"), ("setup", "init container"), ("main", "the step"),
        ("oras-push", "the agent: pushes the outputs")]


def test_the_runs_once_shape_has_no_oras_pull_and_its_sidecar_holds_the_pull_and_the_push():
    parts = container_logs(step_pod("Never"))
    assert shown(parts) == [("main", "the step"), ("oras-push", "the agent: pulls the inputs, then pushes the outputs")]
    assert parts[0].header == "==> pod/p container main (the step) <=="


def test_a_container_that_has_not_started_says_why_and_one_that_ran_has_a_log():
    pod = step_pod("Never")
    assert [p.waiting for p in container_logs(pod)] == ["it has not started (the pod is Pending)"] * 2
    pod["status"] = {"phase": "Pending", "initContainerStatuses": running("oras-push"), "containerStatuses": [
        {"name": "main", "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}}}]}
    main, push = container_logs(pod)
    assert main.waiting == "it has not started (ImagePullBackOff: Back-off pulling image)" and push.waiting == ""
    pod["status"]["containerStatuses"] = [{"name": "main", "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                                           "lastState": {"terminated": {"exitCode": 1}}}]
    assert container_logs(pod)[0].waiting == ""  # its last run's log is there


def test_one_container_is_chosen_by_name_and_a_missing_one_is_named_with_those_there():
    assert shown(container_logs(step_pod("Never"), container="oras-push")) == [
        ("oras-push", "the agent: pulls the inputs, then pushes the outputs")]
    with pytest.raises(OrasError, match=r"pod/p has no container 'nope' \(it has main, oras-push\)"):
        container_logs(step_pod("Never"), container="nope")


def test_a_pod_without_the_agent_shows_its_init_containers_then_its_containers():
    pod = {"metadata": {"name": "q"}, "spec": {"initContainers": [{"name": "i"}], "containers": [{"name": "a"}]}}
    assert shown(container_logs(pod)) == [("i", "init container"), ("a", "container")]


def test_a_workloads_pods_are_found_by_its_selector_its_jobset_label_or_its_owner():
    job = {"kind": "Job", "metadata": {"name": "j"},
           "spec": {"selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u", "a": "b"}}}}
    assert pod_selector("Job", job) == "a=b,batch.kubernetes.io/controller-uid=u"
    assert pod_selector("JobSet", {"metadata": {"name": "s"}}) == "jobset.sigs.k8s.io/jobset-name=s"
    with pytest.raises(OrasError, match="deployment/d: its spec.selector is not labels alone"):
        pod_selector("Deployment", {"metadata": {"name": "d"}, "spec": {"selector": {
            "matchLabels": {"a": "b"}, "matchExpressions": [{"key": "c", "operator": "Exists"}]}}})
    jobs = [{"metadata": {"name": "c-1", "ownerReferences": [{"kind": "CronJob", "name": "c"}]}},
            {"metadata": {"name": "other"}}]
    assert owned_by(jobs, "CronJob", "c") == jobs[:1]


def test_pods_are_shown_in_the_order_they_were_made():
    pods = [{"metadata": {"name": n, "creationTimestamp": t}}
            for n, t in (("b", "2026-01-01T00:00:02Z"), ("a", "2026-01-01T00:00:02Z"), ("c", "2026-01-01T00:00:01Z"))]
    assert [p["metadata"]["name"] for p in in_order(pods)] == ["c", "a", "b"]


class FakeKube:
    """A pod's logs by container, and the pod as each later GET finds it (-f's looks)."""

    def __init__(self, logs, later=()):
        self.logs, self.later, self.asked = logs, list(later), []

    async def stream(self, path, *, what, query, connect_timeout, read_timeout):
        self.asked.append(dict(query))
        for chunk in self.logs[dict(query)["container"]]:
            yield chunk

    async def get(self, resource, name, *, namespace=None):
        return self.later.pop(0)


def write_all(kube, pods, **options):
    import asyncio

    from kubectl_oras.cluster import step_logs

    out, said = [], []
    asyncio.run(step_logs.write_logs(kube, pods, "ns1", write=out.append, say=said.append, **options))
    return "".join(out), said


def test_each_log_follows_its_header_on_a_line_of_its_own_and_one_without_a_log_is_said():
    pod = step_pod("Never")
    pod["status"] = {"phase": "Running", "initContainerStatuses": running("oras-push"), "containerStatuses": [
        {"name": "main", "state": {"waiting": {"reason": "ContainerCreating"}}}]}
    kube = FakeKube({"oras-push": [b"pulled wf/a:in\nwaiting", b" for the step \xc3", b"\xa9"]})
    out, said = write_all(kube, [pod], container=None, follow=False)
    assert out == ("==> pod/p container main (the step) <==\n"
                   "==> pod/p container oras-push (the agent: pulls the inputs, then pushes the outputs) <==\n"
                   "pulled wf/a:in\nwaiting for the step \u00e9\n")
    assert said == ["main: it has not started (ContainerCreating)"]
    assert kube.asked == [{"container": "oras-push"}]


def test_follow_waits_for_a_container_to_start_and_gives_up_when_its_pod_finished_without_it(monkeypatch):
    monkeypatch.setattr("kubectl_oras.cluster.step_logs.LOOK_EVERY", 0)
    pod = step_pod("Never")
    pod["status"] = {"phase": "Pending"}
    started = {**pod, "status": {"phase": "Running", "containerStatuses": running("main"),
                                 "initContainerStatuses": running("oras-push")}}
    kube = FakeKube({"main": [b"hi\n"]}, later=[pod, started])
    out, said = write_all(kube, [pod], container="main", follow=True)
    assert out == "==> pod/p container main (the step) <==\nhi\n"
    assert said == ["waiting: main: it has not started (the pod is Pending)"]
    assert kube.asked == [{"container": "main", "follow": "true"}]
    failed = {**pod, "status": {"phase": "Failed"}}
    out, said = write_all(FakeKube({}, later=[failed]), [pod], container="main", follow=True)
    assert said[-1] == "main: it has not started (the pod is Failed)"
