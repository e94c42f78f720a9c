"""An OrasCache's credentials, htpasswd Secret and registry environment (controller/core/cache_auth.py)."""

from __future__ import annotations

import hashlib
import string

import bcrypt
import pytest

from controller.core import cache_auth
from controller.core.cache_auth import (
    BCRYPT_COST,
    DATA_DIR,
    HTPASSWD_DIR,
    HTPASSWD_KEY,
    USER,
    InvalidCredentials,
    htpasswd_current,
    htpasswd_data,
    new_credentials,
    registry_environment,
)
from kubectl_oras.orascache import PASSWORD_KEY, USER_KEY


def test_new_credentials_are_the_fixed_user_and_a_long_url_safe_password():
    seen = set()
    for _ in range(50):
        creds = new_credentials()
        assert set(creds) == {USER_KEY, PASSWORD_KEY}
        assert creds[USER_KEY] == USER == "oras"
        password = creds[PASSWORD_KEY]
        assert len(password) >= 43  # 32 bytes of entropy in base64url
        assert set(password) <= set(string.ascii_letters + string.digits + "-_")  # nothing to quote or escape
        seen.add(password)
    assert len(seen) == 50


def test_htpasswd_line_verifies_with_bcrypt():
    creds = new_credentials()
    data = htpasswd_data(creds)
    assert set(data) == {HTPASSWD_KEY, "password-sha256"}
    line = data[HTPASSWD_KEY]
    assert line.endswith("\n") and line.count("\n") == 1
    user, _, hashed = line.rstrip("\n").partition(":")
    assert user == "oras"
    assert hashed.startswith(f"$2b${BCRYPT_COST:02d}$")
    assert bcrypt.checkpw(creds[PASSWORD_KEY].encode(), hashed.encode())
    assert not bcrypt.checkpw(b"wrong", hashed.encode())
    assert data["password-sha256"] == hashlib.sha256(creds[PASSWORD_KEY].encode()).hexdigest()
    assert creds[PASSWORD_KEY] not in line


def test_htpasswd_current_sees_a_changed_password_or_user_without_bcrypt():
    creds = new_credentials()
    data = htpasswd_data(creds)
    assert htpasswd_current(creds, data)
    assert not htpasswd_current({**creds, PASSWORD_KEY: "another-password"}, data)
    assert not htpasswd_current({**creds, USER_KEY: "someone"}, data)
    assert not htpasswd_current(creds, {})
    assert not htpasswd_current(creds, {**data, "password-sha256": ""})
    assert not htpasswd_current(creds, {**data, HTPASSWD_KEY: ""})
    assert not htpasswd_current(creds, {**data, HTPASSWD_KEY: data[HTPASSWD_KEY] * 2})
    assert not htpasswd_current({USER_KEY: "oras"}, data)


@pytest.mark.parametrize("creds, says", [
    ({USER_KEY: "oras"}, "needs both"),
    ({PASSWORD_KEY: "x"}, "needs both"),
    ({USER_KEY: "a:b", PASSWORD_KEY: "x"}, "':'"),
    ({USER_KEY: "oras", PASSWORD_KEY: "x\ny"}, "line break"),
    ({USER_KEY: "oras", PASSWORD_KEY: "x" * 73}, "72 bytes"),
])
def test_credentials_the_registry_cannot_take_are_refused(creds, says):
    with pytest.raises(InvalidCredentials, match=says):
        htpasswd_data(creds)


def _env(entries):
    return {e["name"]: e for e in entries}


def test_registry_environment_with_auth():
    entries = registry_environment(auth=True, http_secret_name=None)
    assert [e["name"] for e in entries] == sorted(e["name"] for e in entries)
    env = {name: e["value"] for name, e in _env(entries).items()}
    assert env["REGISTRY_HTTP_ADDR"] == ":5000"
    assert env["REGISTRY_STORAGE"] == "filesystem"
    assert env["REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY"] == DATA_DIR == "/var/lib/registry"
    assert env["REGISTRY_STORAGE_DELETE_ENABLED"] == "true"
    assert env["REGISTRY_AUTH"] == "htpasswd"
    assert env["REGISTRY_AUTH_HTPASSWD_PATH"] == f"{HTPASSWD_DIR}/{HTPASSWD_KEY}" == "/etc/kubectl-oras/htpasswd/htpasswd"
    assert env["REGISTRY_AUTH_HTPASSWD_REALM"]
    assert env["REGISTRY_HTTP_DEBUG_ADDR"] == ""
    assert env["REGISTRY_LOG_ACCESSLOG_DISABLED"] == "true"
    assert env["OTEL_TRACES_EXPORTER"] == "none"
    assert "REGISTRY_HTTP_SECRET" not in env
    for e in entries:  # plain EnvVar dicts with string values
        assert set(e) == {"name", "value"} and isinstance(e["value"], str)


def test_registry_environment_without_auth_clears_it():
    env = _env(registry_environment(auth=False, http_secret_name=None))
    assert env["REGISTRY_AUTH"]["value"] == ""
    assert not [name for name in env if name.startswith("REGISTRY_AUTH_")]


def test_registry_http_secret_comes_from_the_named_secret_never_as_a_value():
    env = _env(registry_environment(auth=True, http_secret_name="my-http-secret"))
    assert env["REGISTRY_HTTP_SECRET"] == {
        "name": "REGISTRY_HTTP_SECRET",
        "valueFrom": {"secretKeyRef": {"name": "my-http-secret", "key": "REGISTRY_HTTP_SECRET"}},
    }


def test_bcrypt_cost_is_the_minimum():
    assert BCRYPT_COST == 4
    assert cache_auth.PASSWORD_BYTES >= 32
