"""Real registry processes on loopback: Debian's docker-registry (distribution 2.8), distribution v3,
and, for the referrers tests, go-containerregistry's registry, which serves the referrers API."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from localcluster.images import OFFICIAL_CONFIG

from .net import free_port, wait_listening
from .tools import debian_registry, distribution_v3, referrers_registry

KINDS = ("distribution-2.8", "distribution-3")
# go-containerregistry's pkg/registry (localcluster/referrers-registry): in memory, no deletes of
# blobs, no TLS; it serves GET /v2/<name>/referrers/<digest>, which neither distribution does
# (docs/provenance.md). Only the tests of referrers run against it.
REFERRERS_API = "go-containerregistry"
REFERRERS_KINDS = (*KINDS, REFERRERS_API)
# The account of tests/registry/conftest.py's `secured` registry.
SECURED_USER, SECURED_PASSWORD = "experimenter", "s3cret-Pa55word"


@dataclass
class RegistryProcess:
    kind: str
    host: str
    root: Path
    proc: subprocess.Popen
    log: Path
    extra: dict = field(default_factory=dict)
    owns_root: bool = False  # the root is a temporary directory of its own: removed with it

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.owns_root:  # a benchmark's registry holds gigabytes: it left them in /tmp every run
            shutil.rmtree(self.root, ignore_errors=True)


def start_registry(kind: str, *, htpasswd: Path | None = None, tls: tuple[Path, Path] | None = None,
                   auth: dict | None = None, root: Path | None = None) -> RegistryProcess:
    """Start a registry of ``kind`` on a free loopback port with deletes enabled."""
    if kind == REFERRERS_API:
        if htpasswd or tls or auth or root:
            raise ValueError(f"{kind} is started with none of htpasswd, tls, auth or root")
        return start_referrers_registry()
    owns_root = root is None
    root = root or Path(tempfile.mkdtemp(prefix=f"registry-{kind}-"))
    port = free_port()
    config: dict = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(root / "data")}, "delete": {"enabled": True}},
        "http": ({"addr": f"127.0.0.1:{port}", "debug": {"addr": ""}} if kind == "distribution-3"
                 else {"addr": f"127.0.0.1:{port}"}),
    }
    if kind == "distribution-3":
        del config["http"]["debug"]
    if tls:
        config["http"]["tls"] = {"certificate": str(tls[0]), "key": str(tls[1])}
    if htpasswd:
        config["auth"] = {"htpasswd": {"realm": "kubectl-oras-test", "path": str(htpasswd)}}
    if auth:
        config["auth"] = auth
    config_path = root / "config.yml"
    root.mkdir(parents=True, exist_ok=True)
    config_path.write_text(yaml.safe_dump(config))
    binary = debian_registry() if kind == "distribution-2.8" else distribution_v3()
    log = root / "registry.log"
    env = dict(os.environ, OTEL_TRACES_EXPORTER="none")
    proc = _listening(kind, [binary, "serve", str(config_path)], f"127.0.0.1:{port}", log, env)
    return RegistryProcess(kind, f"127.0.0.1:{port}", root, proc, log, owns_root=owns_root)


def _listening(kind: str, argv: list[str], host: str, log: Path, env: dict[str, str]) -> subprocess.Popen:
    """``argv`` started with its output in ``log``, once it listens on ``host`` (ADDRESS:PORT)."""
    address, _, port = host.rpartition(":")
    proc = subprocess.Popen(argv, stdout=open(log, "wb"), stderr=subprocess.STDOUT, env=env)
    try:
        wait_listening(address, int(port), proc=proc)
    except RuntimeError as e:
        proc.kill()
        raise RuntimeError(f"{kind} registry did not start: {e}\n{log.read_text()[-2000:]}") from e
    return proc


def start_referrers_registry(*, user_password: str = "") -> RegistryProcess:
    """go-containerregistry's registry; every request needs ``user:password`` as basic auth if given."""
    root = Path(tempfile.mkdtemp(prefix=f"registry-{REFERRERS_API}-"))
    port = free_port()
    log = root / "registry.log"
    env = dict(os.environ, REFERRERS_REGISTRY_AUTH=user_password)
    proc = _listening(REFERRERS_API, [referrers_registry(), f"127.0.0.1:{port}"], f"127.0.0.1:{port}", log, env)
    return RegistryProcess(REFERRERS_API, f"127.0.0.1:{port}", root, proc, log, owns_root=True)


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that nothing trusts (what --insecure is for)."""
    cert, key = directory / "tls.crt", directory / "tls.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


def htpasswd_file(directory: Path, user: str, password: str) -> Path:
    path = directory / "htpasswd"
    out = subprocess.run(["htpasswd", "-Bbn", user, password], check=True, capture_output=True, text=True).stdout
    path.write_text(out)
    return path


# The config file the official registry:3.0.0 image ships at /etc/distribution/config.yml: the
# controller's registry pods keep it and change everything they need through REGISTRY_* variables.
IMAGE_CONFIG = OFFICIAL_CONFIG  # the config file the official registry image ships


def start_with_environment(kind: str, config: str, environment: dict[str, str], directory: Path) -> RegistryProcess:
    """Start a registry of ``kind`` with the config file text ``config`` and ONLY ``environment``
    (plus PATH) as its environment. ``environment`` must name its address in REGISTRY_HTTP_ADDR
    as 127.0.0.1:PORT."""
    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / "config.yml"
    config_path.write_text(config)
    binary = debian_registry() if kind == "distribution-2.8" else distribution_v3()
    log = directory / "registry.log"
    host = environment["REGISTRY_HTTP_ADDR"]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **environment}
    proc = _listening(kind, [binary, "serve", str(config_path)], host, log, env)
    return RegistryProcess(kind, host, directory, proc, log)
