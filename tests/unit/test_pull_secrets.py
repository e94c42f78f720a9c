"""Which credentials a pod's pull Secrets hold for a registry, read as the kubelet reads them."""

import base64
import json

from controller.core.pull_secrets import credentials_in, pull_secret_names, registry_of_key, service_account_of


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def secret(kind: str, key: str, config: dict) -> dict:
    return {"type": kind, "data": {key: b64(json.dumps(config))}}


def test_a_dockerconfigjson_secret_gives_the_entry_of_the_registry_by_auth_or_by_user_and_password():
    s = secret("kubernetes.io/dockerconfigjson", ".dockerconfigjson", {"auths": {
        "https://reg.example:5000/v2/": {"auth": b64("u:p:with:colons")},
        "reg.example:5000": {"username": "u2", "password": "p2"},
        "other.example": {"auth": b64("x:y")}}})
    assert credentials_in(s, "reg.example:5000") == [("u", "p:with:colons"), ("u2", "p2")]
    assert credentials_in(s, "reg.example") == []


def test_docker_hubs_names_are_one_registry():
    s = secret("kubernetes.io/dockercfg", ".dockercfg", {"https://index.docker.io/v1/": {"auth": b64("hub:pw")}})
    assert credentials_in(s, "docker.io") == [("hub", "pw")]
    assert registry_of_key("registry-1.docker.io") == registry_of_key("docker.io") == "docker.io"


def test_a_secret_of_another_type_or_unreadable_holds_none():
    config = {"auths": {"r.example": {"auth": b64("u:p")}}}
    assert credentials_in(secret("Opaque", ".dockerconfigjson", config), "r.example") == []
    assert credentials_in({"type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": "!!"}}, "r.example") == []
    assert credentials_in({"type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": b64("[")}},
                          "r.example") == []
    assert credentials_in(secret("kubernetes.io/dockerconfigjson", ".dockerconfigjson",
                                 {"auths": {"r.example": {"auth": "not base64!"}}}), "r.example") == []


def test_the_pods_pull_secrets_come_before_its_service_accounts_each_once():
    pod = {"spec": {"imagePullSecrets": [{"name": "a"}, {"name": "b"}, "junk"], "serviceAccountName": "runner"}}
    account = {"imagePullSecrets": [{"name": "b"}, {"name": "c"}]}
    assert pull_secret_names(pod, account) == ["a", "b", "c"]
    assert service_account_of(pod) == "runner"
    assert service_account_of({"spec": {}}) == "default"
