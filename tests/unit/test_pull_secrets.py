"""Which credentials a pod's pull Secrets hold for a registry, read as the kubelet reads them."""

import base64
import json

import pytest

from controller.core.pull_secrets import (
    UnreadablePullSecret,
    credentials_in,
    pull_secret_names,
    registry_of_key,
    service_account_of,
)

CONFIG = {"auths": {"r.example": {"auth": "dTpw"}}}
NAMED = {"name": "regcred", "namespace": "ns"}


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


@pytest.mark.parametrize(("secret_", "said"), [
    ({**secret("Opaque", ".dockerconfigjson", CONFIG), "metadata": NAMED},
     "imagePullSecret ns/regcred is of type 'Opaque', not one of kubernetes.io/dockerconfigjson, kubernetes.io/dockercfg"),
    ({"type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": "!!"}, "metadata": NAMED},
     'imagePullSecret ns/regcred: its key .dockerconfigjson is missing or not base64 of JSON {"auths": {REGISTRY: {...}}}'),
    ({"type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": b64("[")}, "metadata": NAMED},
     'imagePullSecret ns/regcred: its key .dockerconfigjson is missing or not base64 of JSON'),
    ({"type": "kubernetes.io/dockercfg", "data": {}, "metadata": NAMED},
     "imagePullSecret ns/regcred: its key .dockercfg is missing or not base64 of JSON {REGISTRY: {...}}"),
    ({**secret("kubernetes.io/dockerconfigjson", ".dockerconfigjson",
               {"auths": {"r.example": {"auth": b64("p4ssw0rd-no-user")}}}), "metadata": NAMED},
     "imagePullSecret ns/regcred: its entry 'r.example' has neither a username nor an auth that is base64 of user:password"),
    ({**secret("kubernetes.io/dockerconfigjson", ".dockerconfigjson", {"auths": {"r.example": "p4ssw0rd"}}),
      "metadata": NAMED}, "imagePullSecret ns/regcred: its entry 'r.example' is not an object"),
])
def test_a_pull_secret_that_cannot_be_read_is_refused_naming_it_and_never_quoting_it(secret_, said):
    with pytest.raises(UnreadablePullSecret) as e:
        credentials_in(secret_, "r.example")
    assert said in str(e.value) and "p4ssw0rd" not in str(e.value)


def test_a_malformed_entry_for_another_registry_is_not_this_lookups_concern():
    s = secret("kubernetes.io/dockerconfigjson", ".dockerconfigjson", {"auths": {"other.example": {"auth": "!!"}}})
    assert credentials_in(s, "r.example") == []


def test_the_pods_pull_secrets_come_before_its_service_accounts_each_once():
    pod = {"spec": {"imagePullSecrets": [{"name": "a"}, {"name": "b"}, "junk"], "serviceAccountName": "runner"}}
    account = {"imagePullSecrets": [{"name": "b"}, {"name": "c"}]}
    assert pull_secret_names(pod, account) == ["a", "b", "c"]
    assert service_account_of(pod) == "runner"
    assert service_account_of({"spec": {}}) == "default"
