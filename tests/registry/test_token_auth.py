"""A real registry in token-auth mode: we answer its Bearer challenges with tokens per scope."""

import pytest

from kubectl_oras.oci.client import Credentials, RegistryClient
from kubectl_oras.oci.errors import AuthenticationFailed
from kubectl_oras.oci.pull import pull_artifact
from kubectl_oras.oci.push import push_artifact
from kubectl_oras.oci.reference import Reference
from tests.support.registries import KINDS, start_registry
from tests.support.token_service import TokenService

USER, PASSWORD = "pipeline", "t0ken-Pa55"


@pytest.fixture(scope="module", params=KINDS)
def token_registry(request, tmp_path_factory):
    tokens = TokenService(tmp_path_factory.mktemp("tokens"), user=USER, password=PASSWORD).start()
    registry = start_registry(request.param, auth=tokens.registry_auth_config())
    yield registry, tokens
    registry.stop()
    tokens.stop()


def test_push_and_pull_with_tokens_for_each_repository(token_registry, tmp_path):
    registry, tokens = token_registry
    client = RegistryClient(registry.host, plain_http=True, credentials=Credentials(USER, PASSWORD))
    (tmp_path / "f.txt").write_text("behind a token")
    for repo in ("team/a", "team/b"):  # a token for one repository must not be reused for another
        push_artifact(client, Reference(registry.host, repo, "v1"), [str(tmp_path / "f.txt")])
        pull_artifact(client, Reference(registry.host, repo, "v1"), str(tmp_path / repo))
        assert (tmp_path / repo / "f.txt").read_text() == "behind a token"
    assert any(s.startswith("repository:team/a:") and "push" in s for s in tokens.issued)
    assert any(s.startswith("repository:team/b:") for s in tokens.issued)


def test_wrong_password_is_refused_by_the_token_service(token_registry):
    registry, _ = token_registry
    client = RegistryClient(registry.host, plain_http=True, credentials=Credentials(USER, "wrong"))
    with pytest.raises(AuthenticationFailed, match="token service .* refused"):
        client.list_tags("team/a")


def test_no_credentials_says_which_variables_to_set(token_registry, monkeypatch):
    registry, _ = token_registry
    monkeypatch.setenv("HOME", "/nonexistent")
    with pytest.raises(AuthenticationFailed, match="ORAS_USER"):
        RegistryClient(registry.host, plain_http=True).list_tags("team/a")


def test_a_busy_token_service_is_asked_again(token_registry, tmp_path):
    registry, tokens = token_registry
    client = RegistryClient(registry.host, plain_http=True, credentials=Credentials(USER, PASSWORD))
    (tmp_path / "f.txt").write_text("token service restarting")
    tokens.busy = 2
    push_artifact(client, Reference(registry.host, "team/busy", "v1"), [str(tmp_path / "f.txt")])
    pull_artifact(client, Reference(registry.host, "team/busy", "v1"), str(tmp_path / "out"))
    assert (tmp_path / "out" / "f.txt").read_text() == "token service restarting"
    assert tokens.busy == 0


def test_gc_dry_run_needs_only_read_access_and_the_real_run_says_it_may_not_delete(token_registry, tmp_path):
    """A dry run asks nothing of the registry's delete rights it cannot have (the delete-mode probe
    is refused to a reader): it lists by the rules alone; the real run stops, saying denied."""
    import os
    import subprocess

    registry, tokens = token_registry
    client = RegistryClient(registry.host, plain_http=True, credentials=Credentials(USER, PASSWORD))
    (tmp_path / "f.txt").write_text("x")
    for i in range(3):
        push_artifact(client, Reference(registry.host, "team/gc", f"iter-{i}"), [str(tmp_path / "f.txt")],
                      annotations={"org.opencontainers.image.created": f"2026-01-0{i + 1}T00:00:00Z"})
    env = dict(os.environ, ORAS_USER=USER, ORAS_PASS=PASSWORD)
    tokens.read_only = True
    try:
        dry = subprocess.run(["kubectl-oras", "gc", "team/gc", "-r", registry.host, "--plain-http", "--keep-last", "1",
                              "--dry-run"], capture_output=True, text=True, env=env)
        real = subprocess.run(["kubectl-oras", "gc", "team/gc", "-r", registry.host, "--plain-http", "--keep-last", "1"],
                              capture_output=True, text=True, env=env)
    finally:
        tokens.read_only = False
    assert dry.returncode == 0, dry.stderr
    assert "would delete team/gc:iter-0" in dry.stdout and "would delete team/gc:iter-1" in dry.stdout
    assert real.returncode == 1 and "these credentials may not delete" in real.stderr, real.stderr
    assert "Traceback" not in real.stderr
    assert sorted(client.list_tags("team/gc")) == ["iter-0", "iter-1", "iter-2"]
