"""Cluster access without a cluster: API paths, and owner references a pod's author controls."""

from __future__ import annotations

import pytest

from kubectl_oras.kube.api import JOBS, MUTATING_WEBHOOK_CONFIGURATIONS, SECRETS
from kubectl_oras.kube.errors import Forbidden, Gone, Invalid, KubeError, ObjectNotFound, api_error
from kubectl_oras.kube.owners import read_owner_annotations


def test_paths_escape_every_part_so_a_name_stays_one_name():
    assert JOBS.path(namespace="a", name="../../b/jobs/victim") == "/apis/batch/v1/namespaces/a/jobs/..%2F..%2Fb%2Fjobs%2Fvictim"
    assert SECRETS.path(namespace="lab", name="x") == "/api/v1/namespaces/lab/secrets/x"
    assert MUTATING_WEBHOOK_CONFIGURATIONS.path(name="c") == \
        "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/c"


@pytest.mark.parametrize("name", ["", ".", ".."])
def test_an_empty_or_dot_name_never_turns_into_the_collection(name):
    with pytest.raises(ValueError):
        SECRETS.path(namespace="lab", name=name)


@pytest.mark.parametrize("owner", [
    {"kind": "Job", "name": "../../b/jobs/victim"}, {"kind": "Job", "name": ""}, {"kind": "Job", "name": "A_B"},
    {"kind": "Job", "name": 5}, {"kind": "Job"}, {"kind": "CronJob", "name": "x"},
])
async def test_owner_references_that_cannot_name_an_owner_are_not_looked_up(owner):
    assert await read_owner_annotations(None, "a", owner) is None  # type: ignore[arg-type]: no call is made


@pytest.mark.parametrize("status, kind", [(403, Forbidden), (404, ObjectNotFound), (410, Gone), (422, Invalid), (500, KubeError)])
def test_api_errors_are_mapped_once_with_the_apiservers_message(status, kind):
    body = '{"kind":"Status","message":"secrets \\"x\\" is forbidden: no","reason":"Forbidden"}'
    error = api_error(status, body, what="get secrets lab/x")
    assert type(error) is kind and str(error) == 'get secrets lab/x: secrets "x" is forbidden: no'


def test_an_api_error_without_a_status_body_says_the_http_status():
    assert str(api_error(502, b"\xff<html>", what="list pods", http_reason="Bad Gateway")) == \
        "list pods: the API answered 502 Bad Gateway"
