"""A registry with TLS (self-signed) and basic auth: credentials from the environment only."""

import pytest
from typer.testing import CliRunner

from kubectl_oras.cli import app
from kubectl_oras.oci.client import Credentials, RegistryClient
from kubectl_oras.oci.errors import AuthenticationFailed, RegistryUnreachable
from tests.support.registries import KINDS, htpasswd_file, self_signed_cert, start_registry

USER, PASSWORD = "experimenter", "s3cret-Pa55word"


@pytest.fixture(scope="module", params=KINDS)
def secured(request, tmp_path_factory):
    d = tmp_path_factory.mktemp("secured")
    proc = start_registry(request.param, htpasswd=htpasswd_file(d, USER, PASSWORD), tls=self_signed_cert(d))
    yield proc
    proc.stop()


def test_credentials_from_env_push_and_pull_over_tls(secured, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "f.txt").write_text("secret result")
    monkeypatch.setenv("ORAS_USER", USER)
    monkeypatch.setenv("ORAS_PASS", PASSWORD)
    runner = CliRunner()
    r = runner.invoke(app, ["push", "sec/x:1", "f.txt", "-r", secured.host, "--insecure"])
    assert r.exit_code == 0, r.stderr
    r2 = runner.invoke(app, ["pull", "sec/x:1", "-r", secured.host, "--insecure", "-o", "out"])
    assert r2.exit_code == 0, r2.stderr
    assert (tmp_path / "out" / "f.txt").read_text() == "secret result"
    assert PASSWORD not in r.output + r.stderr + r2.output + r2.stderr


def test_separate_push_and_pull_passwords_are_honoured():
    env = {"ORAS_USER": "u", "ORAS_PUSH_PASS": "push", "ORAS_PULL_PASS": "pull"}
    assert Credentials.from_env(push=True, environ=env) == Credentials("u", "push")
    assert Credentials.from_env(push=False, environ=env) == Credentials("u", "pull")
    assert Credentials.from_env(push=False, environ={"ORAS_USER": "u"}) is None


def test_no_credentials_says_which_variables_to_set(secured, monkeypatch):
    monkeypatch.setenv("HOME", "/nonexistent")  # no docker config to fall back on
    client = RegistryClient(secured.host, insecure=True)
    with pytest.raises(AuthenticationFailed, match="ORAS_USER"):
        client.list_tags("sec/x")


def test_wrong_password_is_refused(secured):
    client = RegistryClient(secured.host, insecure=True, credentials=Credentials(USER, "wrong"))
    with pytest.raises(AuthenticationFailed, match="401"):
        client.list_tags("sec/x")


def test_an_untrusted_certificate_suggests_insecure(secured):
    client = RegistryClient(secured.host, credentials=Credentials(USER, PASSWORD))
    with pytest.raises(RegistryUnreachable, match="--insecure"):
        client.list_tags("sec/x")
