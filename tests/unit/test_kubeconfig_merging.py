"""Cluster access as kubectl does it, without a cluster: which kubeconfig files, how several merge,
which context and namespace, and a 403 said in the user's words."""

from __future__ import annotations

import json

import pytest
import yaml

from kubectl_oras.kube.config import (
    ContextNotFound,
    choose_context,
    connect,
    kubeconfig_files,
    merge_kubeconfigs,
)
from kubectl_oras.kube.errors import ClusterUnreachable, Forbidden, api_error, forbidden_words


def test_the_flag_wins_then_kubeconfig_then_the_home_file(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert kubeconfig_files("/x/one:two", {"KUBECONFIG": "/a:/b"}) == ["/x/one:two"]  # the flag is one file
    assert kubeconfig_files(None, {"KUBECONFIG": "/a::/b:"}) == ["/a", "/b"]
    assert kubeconfig_files(None, {}) == [str(tmp_path / ".kube/config")]


def _config(*contexts, current=None):
    doc = {"contexts": [{"name": n, "context": {"cluster": c, "user": "u", **({"namespace": ns} if ns else {})}}
                        for n, c, ns in contexts]}
    if current is not None:
        doc["current-context"] = current
    return doc


def test_several_files_merge_as_kubectl_merges_them():
    merged = merge_kubeconfigs([
        ("/a", _config(("dev", "A", "lab"))),  # sets no current-context
        ("/b", _config(("dev", "B", "other"), ("prod", "B", None), current="prod")),
        ("/c", _config(("stage", "C", None), current="stage")),
    ])
    assert merged.current == "prod"  # the first file that sets one: kubernetes-asyncio would take the last's
    assert merged.contexts["dev"]["cluster"] == "A"  # first file wins per name
    assert sorted(merged.contexts) == ["dev", "prod", "stage"]
    assert choose_context(merged, None) == ("prod", "default")
    assert choose_context(merged, "dev") == ("dev", "lab")


def test_an_empty_current_context_does_not_count_and_an_empty_file_is_skipped():
    merged = merge_kubeconfigs([("/a", None), ("/b", _config(("x", "X", None), current="")),
                                ("/c", _config(current="x"))])
    assert merged.current == "x"


def test_an_unknown_context_lists_the_contexts_there_are():
    merged = merge_kubeconfigs([("/a", _config(("dev", "A", None), ("prod", "B", None), current="dev"))])
    with pytest.raises(ContextNotFound) as e:
        choose_context(merged, "staging")
    assert str(e.value) == "no context 'staging' in /a; contexts: dev, prod"
    with pytest.raises(ContextNotFound, match=r"no current context in /a; give --context \(contexts: dev, prod\)"):
        choose_context(merge_kubeconfigs([("/a", _config(("dev", "A", None), ("prod", "B", None)))]), None)


def test_a_file_that_is_not_a_map_is_named():
    with pytest.raises(ClusterUnreachable, match="/a is not a kubeconfig"):
        merge_kubeconfigs([("/a", ["x"])])


async def test_no_kubeconfig_and_no_pod_is_one_clear_line(tmp_path):
    with pytest.raises(ClusterUnreachable) as e:
        await connect(environ={"KUBECONFIG": str(tmp_path / "none")})
    assert "no cluster to talk to: no kubeconfig at" in str(e.value) and "--kubeconfig" in str(e.value)


async def test_connect_reads_every_file_and_takes_the_namespace_flag_over_the_contexts(tmp_path):
    first = tmp_path / "first"
    second = tmp_path / "second"
    first.write_text(yaml.safe_dump({**_config(("dev", "c", "lab")), "current-context": "dev"}))
    second.write_text(yaml.safe_dump({"clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                                      "users": [{"name": "u", "user": {"token": "t"}}],
                                      **_config(("other", "c", None)), "current-context": "other"}))
    env = {"KUBECONFIG": f"{first}:{second}"}
    async with await connect(environ=env) as kube:
        assert kube.namespace == "lab" and kube.api.configuration.host == "https://127.0.0.1:1"
    async with await connect(environ=env, context="other", namespace="mine") as kube:
        assert kube.namespace == "mine"
    with pytest.raises(ContextNotFound, match="contexts: dev, other"):
        await connect(environ=env, context="nope")


def _status(message):
    return json.dumps({"kind": "Status", "status": "Failure", "reason": "Forbidden", "code": 403, "message": message,
                       "details": {"group": "cache.converged-computing.github.io", "kind": "orascaches"}})


@pytest.mark.parametrize("message, words", [
    ('orascaches.cache.converged-computing.github.io is forbidden: User "bob" cannot create resource "orascaches" '
     'in API group "cache.converged-computing.github.io" in the namespace "lab"',
     'you cannot create orascaches in namespace lab (User "bob")'),
    ('customresourcedefinitions.apiextensions.k8s.io is forbidden: User "system:serviceaccount:lab:me" cannot list '
     'resource "customresourcedefinitions" in API group "apiextensions.k8s.io" at the cluster scope',
     'you cannot list customresourcedefinitions at cluster scope (User "system:serviceaccount:lab:me")'),
    ('pods "x" is forbidden: User "bob" cannot get resource "pods" in API group "" in the namespace "lab"',
     'you cannot get pods in namespace lab (User "bob")'),
    ('orascaches.cache.converged-computing.github.io "a" is forbidden: User "bob" cannot patch resource '
     '"orascaches/status" in API group "cache.converged-computing.github.io" in the namespace "lab"',
     'you cannot patch orascaches/status in namespace lab (User "bob")'),
    # an impersonation refused: which group of several --as-group (the apiserver's impersonation filter)
    ('groups "ops" is forbidden: User "bob" cannot impersonate resource "groups" in API group "" at the cluster scope',
     'you cannot impersonate groups ops at cluster scope (User "bob")'),
    # a name that is not one word is shown quoted as the apiserver quotes it (Go's %q)
    ('groups "g 3" is forbidden: User "bob" cannot impersonate resource "groups" in API group "" at the cluster scope',
     'you cannot impersonate groups "g 3" at cluster scope (User "bob")'),
    ('groups "q\\"x" is forbidden: User "bob" cannot impersonate resource "groups" in API group "" at the cluster scope',
     'you cannot impersonate groups "q\\"x" at cluster scope (User "bob")'),
    # kube-apiserver 1.36, a caller that has not impersonated through the legacy check yet: the
    # constrained impersonation's refusal, naming the request's verb and resource, no user or group
    ('orascaches.cache.converged-computing.github.io is forbidden: User "bob" cannot impersonate-on:user-info:list '
     'resource "orascaches" in API group "cache.converged-computing.github.io" in the namespace "lab"',
     'you cannot impersonate the --as user and groups to list orascaches in namespace lab (User "bob")'),
])
def test_a_403_from_rbac_is_said_in_the_users_words(message, words):
    assert forbidden_words(_status(message)) == words
    error = api_error(403, _status(message), what="create orascaches lab/a")
    assert type(error) is Forbidden and str(error) == words


def test_a_403_worded_otherwise_keeps_the_apiservers_message():
    error = api_error(403, _status('pods "x" is forbidden: exceeded quota'), what="create pods lab/x")
    assert forbidden_words(_status("exceeded quota")) is None
    assert str(error) == 'create pods lab/x: pods "x" is forbidden: exceeded quota'
