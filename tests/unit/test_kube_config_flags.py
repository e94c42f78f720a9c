"""kubectl's config flags over a kubeconfig (kube/config.py, kube/config_flags.py), without a
cluster: the Kube that connect() hands back aims, authenticates and times out as the flags say,
and the token is never shown."""

from __future__ import annotations

import ssl

import pytest
import yaml

from kubectl_oras.kube.config import ContextNotFound, connect
from kubectl_oras.kube.config_flags import ConfigFlags, request_timeout
from kubectl_oras.kube.errors import ClusterUnreachable

SYSTEM_CAS = ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt"


@pytest.fixture
def kubeconfig(tmp_path):
    """Two clusters and two users; the context names the first of each."""
    (tmp_path / "ca.crt").write_text(open(SYSTEM_CAS).read())
    (tmp_path / "not-a-ca.crt").write_text("hello")
    doc = {
        "apiVersion": "v1", "kind": "Config", "current-context": "dev",
        "clusters": [{"name": "one", "cluster": {"server": "https://one.example:6443"}},
                     {"name": "two", "cluster": {"server": "https://two.example:6443", "insecure-skip-tls-verify": True}}],
        "users": [{"name": "alice", "user": {"token": "alice-token"}},
                  {"name": "bob", "user": {"token": "bob-token"}}],
        "contexts": [{"name": "dev", "context": {"cluster": "one", "user": "alice", "namespace": "lab"}}],
    }
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


async def _connect(kubeconfig, **flags):
    return await connect(kubeconfig=kubeconfig, environ={}, flags=ConfigFlags(**flags))


def sent(kube):
    """The headers every request of ``kube`` carries (Kube.send_with_every_request: its aiohttp session's)."""
    return kube.api.rest_client.pool_manager.headers


async def test_without_flags_the_context_is_used(kubeconfig):
    async with await _connect(kubeconfig) as kube:
        configuration = kube.api.configuration
        assert (configuration.host, configuration.api_key["BearerToken"]) == ("https://one.example:6443",
                                                                               "Bearer alice-token")
        assert kube.namespace == "lab" and kube.timeout == 30.0
        assert "Impersonate-User" not in sent(kube)


async def test_user_and_cluster_replace_the_contexts_and_keep_its_namespace(kubeconfig):
    async with await _connect(kubeconfig, user="bob", cluster="two") as kube:
        configuration = kube.api.configuration
        assert configuration.host == "https://two.example:6443" and configuration.verify_ssl is False
        assert configuration.api_key["BearerToken"] == "Bearer bob-token"
        assert kube.namespace == "lab"


async def test_server_token_and_tls_flags_override_the_kubeconfig(kubeconfig, tmp_path):
    ca = str(tmp_path / "ca.crt")
    async with await _connect(kubeconfig, server="https://three.example:443/", token="flag-token",
                              certificate_authority=ca) as kube:
        configuration = kube.api.configuration
        assert configuration.host == "https://three.example:443"
        assert configuration.api_key == {"BearerToken": "Bearer flag-token"}
        assert configuration.ssl_ca_cert == ca
    async with await _connect(kubeconfig, insecure_skip_tls_verify=True) as kube:
        assert kube.api.configuration.verify_ssl is False


@pytest.mark.parametrize("server", ["k.example:6443", "localhost:6443", "10.0.0.1"])
async def test_a_server_without_a_scheme_is_https_as_kubectl_takes_it(kubeconfig, server):
    # it went to aiohttp as it was: "cannot reach the Kubernetes API at k.example:6443: k.example:6443/apis/..."
    async with await _connect(kubeconfig, server=server) as kube:
        assert kube.api.configuration.host == f"https://{server}"


async def test_a_certificate_authority_verifies_a_cluster_the_kubeconfig_says_not_to_verify(kubeconfig, tmp_path):
    # cluster "two" has insecure-skip-tls-verify: the CA was set and verify_ssl left False, so nothing was verified
    ca = str(tmp_path / "ca.crt")
    async with await _connect(kubeconfig, cluster="two", certificate_authority=ca) as kube:
        configuration = kube.api.configuration
        assert (configuration.verify_ssl, configuration.ssl_ca_cert) == (True, ca)


async def test_a_token_is_used_without_running_the_users_exec_plugin(tmp_path):
    # kubectl --token does not run the user's credential plugin; here a plugin that failed (an
    # expired login, a CLI not installed) stopped the command the token was given for
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": "sso",
           "clusters": [{"name": "one", "cluster": {"server": "https://one.example:6443"}}],
           "users": [{"name": "sso", "user": {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1",
                                                      "command": "/bin/false"}}}],
           "contexts": [{"name": "sso", "context": {"cluster": "one", "user": "sso"}}]}
    (tmp_path / "config").write_text(yaml.safe_dump(doc))
    async with await _connect(str(tmp_path / "config"), token="flag-token") as kube:
        assert kube.api.configuration.api_key == {"BearerToken": "Bearer flag-token"}
        assert kube.api.configuration.host == "https://one.example:6443"


async def test_an_empty_flag_is_not_given_as_kubectl_takes_it(kubeconfig):
    # a script's --token "$TOKEN" with TOKEN unset sent "Bearer " in place of the user's own
    # credentials; --user "" was "no such user", --certificate-authority "" "no such file"
    async with await _connect(kubeconfig, token="", user="", cluster="", server="", impersonate="",
                              certificate_authority="") as kube:
        configuration = kube.api.configuration
        assert (configuration.host, configuration.api_key["BearerToken"]) == ("https://one.example:6443",
                                                                               "Bearer alice-token")
        assert "Impersonate-User" not in sent(kube)


async def test_impersonation_and_the_request_timeout(kubeconfig):
    async with await _connect(kubeconfig, impersonate="jane", impersonate_groups=("devs",),
                              request_timeout=2.5) as kube:
        assert sent(kube).getall("Impersonate-User") == ["jane"]
        assert sent(kube).getall("Impersonate-Group") == ["devs"]
        assert kube.timeout == 2.5
    async with await _connect(kubeconfig, request_timeout=0) as kube:
        assert kube.timeout is None  # kubectl's 0: no limit


async def test_every_group_is_sent_in_a_header_of_its_own(kubeconfig):
    # was refused: "--as-group given 2 times (devs, ops): kubectl oras sends one group"
    async with await _connect(kubeconfig, impersonate="jane", impersonate_groups=("devs", "ops", "devs")) as kube:
        assert sent(kube).getall("Impersonate-User") == ["jane"]
        assert sent(kube).getall("Impersonate-Group") == ["devs", "ops", "devs"]


@pytest.mark.parametrize(("flags", "message"), [
    ({"user": "carol"}, "--user carol: no such user in {config} (alice, bob)"),
    ({"cluster": "three"}, "--cluster three: no such cluster in {config} (one, two)"),
    ({"certificate_authority": "/no/such/ca.crt"}, "--certificate-authority /no/such/ca.crt: no such file"),
    ({"certificate_authority": "{dir}/not-a-ca.crt"},
     "--certificate-authority {dir}/not-a-ca.crt: not a PEM certificate (NO_CERTIFICATE_OR_CRL_FOUND)"),
    ({"certificate_authority": "{ca}", "insecure_skip_tls_verify": True},
     "--certificate-authority and --insecure-skip-tls-verify: give one, not both (a CA to verify with, or no verifying)"),
    ({"server": "ftp://k.example:6443"}, "--server ftp://k.example:6443: give an https:// (or http://) URL"),
    # these went to aiohttp: "cannot reach the Kubernetes API at https:: https:///apis/..."
    ({"server": "https://"}, "--server https://: not an apiserver's URL (https://HOST[:PORT])"),
    ({"server": ":6443"}, "--server :6443: not an apiserver's URL (https://HOST[:PORT])"),
    ({"server": "https://[::1"}, "--server https://[::1: not an apiserver's URL (https://HOST[:PORT])"),
    ({"server": "https://k.example:99999"}, "--server https://k.example:99999: not an apiserver's URL (https://HOST[:PORT])"),
    # a token file written with CRLF: "the Kubernetes API answered with something that is not JSON"
    ({"token": "s3cr3t\r"}, "--token: holds a control character (a line end?), which an HTTP header cannot carry"),
    ({"impersonate": "jane\n"}, "--as 'jane\\n': holds a control character (a line end?), which an HTTP header cannot carry"),
    ({"impersonate_groups": ("devs",)}, "--as-group needs --as (kubectl refuses a group without a user to impersonate)"),
])
async def test_a_flag_that_cannot_apply_is_refused_naming_it(kubeconfig, tmp_path, flags, message):
    flags = {k: v.format(ca=tmp_path / "ca.crt", dir=tmp_path) if isinstance(v, str) else v for k, v in flags.items()}
    with pytest.raises((ContextNotFound, ClusterUnreachable)) as refused:
        await _connect(kubeconfig, **flags)
    assert str(refused.value) == message.format(config=kubeconfig, dir=tmp_path)


@pytest.mark.parametrize(("text", "seconds"), [("30", 30), ("1s", 1), ("2m", 120), ("500ms", 0.5), ("1h30m", 5400),
                                               ("0", 0), ("1.5s", 1.5)])
def test_request_timeout_reads_as_kubectl_reads_it(text, seconds):
    assert request_timeout(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "1x", "-1s", "1s2"])
def test_a_request_timeout_that_is_not_one_is_refused(text):
    with pytest.raises(Exception, match=r"^--request-timeout "):
        request_timeout(text)


def test_the_token_is_never_shown():
    flags = ConfigFlags(token="s3cr3t-token", impersonate="jane")
    assert "s3cr3t" not in repr(flags) and "s3cr3t" not in str(flags)
    assert repr(flags) == "ConfigFlags(impersonate='jane', token='(hidden)')"


@pytest.mark.parametrize("text", ["100000h", "1" + "0" * 400])
def test_a_request_timeout_past_the_longest_duration_is_refused_naming_it(text):
    # 1 followed by 400 zeros is infinite as a float: aiohttp's timer raised OverflowError, a traceback
    from typer.testing import CliRunner

    from kubectl_oras.cli import app

    refused = CliRunner().invoke(app, ["--request-timeout", text, "version", "--client"])
    assert refused.exit_code == 1
    assert refused.output.strip() == f"error: --request-timeout {text!r} is longer than 87600h (10 years), " \
                                     "the longest duration taken"


def test_the_request_log_shows_no_user_part_of_the_apiservers_url():
    # -v 6: a server written https://user:password@host (a kubeconfig's or --server's) went whole into the log
    import logging
    import time

    from kubectl_oras.kube.api import REQUEST_LOG, log_request

    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    level = REQUEST_LOG.level
    REQUEST_LOG.addHandler(handler)
    REQUEST_LOG.setLevel(logging.DEBUG)
    try:
        log_request("GET", "https://jane:s3cr3t@k.example:6443/api/v1/namespaces/lab/pods?limit=1", 200, time.monotonic())
    finally:
        REQUEST_LOG.removeHandler(handler)
        REQUEST_LOG.setLevel(level)
    assert len(lines) == 1 and "s3cr3t" not in lines[0] and "jane" not in lines[0]
    assert lines[0].startswith("GET https://k.example:6443/api/v1/namespaces/lab/pods?limit=1 200 in ")


@pytest.mark.parametrize(("url", "shown"), [
    ("https://jane:s3cr3t@k.example:6443", "https://k.example:6443"),
    ("https://jane:s3cr3t@k.example:6443/api/v1/pods?limit=1", "https://k.example:6443/api/v1/pods?limit=1"),
    ("jane:s3cr3t@k.example:6443", "k.example:6443"),  # --server without a scheme
    ("https://jane@[::1]:6443", "https://[::1]:6443"),
    ("https://k.example:6443", "https://k.example:6443"),  # nothing to take away
])
def test_a_servers_url_is_said_without_its_user_part(url, shown):
    from kubectl_oras.kube.api import without_userinfo

    assert without_userinfo(url) == shown


async def test_an_unreachable_server_is_said_without_its_user_part():
    # `--server https://u:secret@127.0.0.1:1` said the password in the one line of kube.unreachable
    from kubernetes_asyncio.client import ApiClient, Configuration

    from kubectl_oras.kube.api import Kube

    async with Kube(ApiClient(Configuration(host="https://jane:s3cr3t@127.0.0.1:1"))) as kube:
        said = str(kube.unreachable("get pods lab/p", OSError("cannot connect to https://jane:s3cr3t@127.0.0.1:1")))
    assert said == "get pods lab/p: cannot reach the Kubernetes API at https://127.0.0.1:1: cannot connect to " \
                   "https://127.0.0.1:1"
