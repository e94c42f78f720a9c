"""Certificate files for a control plane, made with the webhook's own certificate code."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from controller.core.certificates import Authority, issue, key_pem, make_ca

DAYS = 365  # a local cluster may stay up for weeks; nothing here leaves this machine


@dataclass(frozen=True)
class KeyPair:
    cert: Path
    key: Path

    def cert_pem(self) -> bytes:
        return self.cert.read_bytes()


def private_dir(path: Path) -> Path:
    """A directory only its owner reads (keys, kubeconfigs, state), made with its parents."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)
    return path


def write_private(path: Path, data: bytes) -> Path:
    """A file only its owner reads, created so (never readable by others, not even for a moment)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(data)
    return path


def authority(directory: Path, name: str) -> tuple[KeyPair, Authority]:
    ca = make_ca(name, days=DAYS)
    cert = write_private(directory / f"{name}.crt", ca.pem)
    return KeyPair(cert, write_private(directory / f"{name}.key", key_pem(ca.key))), ca


def certificate(directory: Path, name: str, ca: Authority, *, common_name: str, organizations: tuple[str, ...] = (),
                server: bool = False, client: bool = False, hosts: tuple[str, ...] = ()) -> KeyPair:
    cert, key = issue(ca, common_name=common_name, hosts=list(hosts), organizations=organizations, server=server,
                      client=client, days=DAYS)
    return KeyPair(write_private(directory / f"{name}.crt", cert), write_private(directory / f"{name}.key", key))


def service_account_keys(directory: Path) -> KeyPair:
    """The RSA pair the apiserver signs service-account tokens with (public half verifies them)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pub = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return KeyPair(write_private(directory / "sa.pub", pub), write_private(directory / "sa.key", private))
