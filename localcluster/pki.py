"""Certificate files for a control plane, made with the webhook's own certificate code."""

from __future__ import annotations

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


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    path.chmod(0o600)
    return path


def authority(directory: Path, name: str) -> tuple[KeyPair, Authority]:
    ca = make_ca(name, days=DAYS)
    return KeyPair(_write(directory / f"{name}.crt", ca.pem), _write(directory / f"{name}.key", key_pem(ca.key))), ca


def certificate(directory: Path, name: str, ca: Authority, *, common_name: str, organizations: tuple[str, ...] = (),
                server: bool = False, client: bool = False, hosts: tuple[str, ...] = ()) -> KeyPair:
    cert, key = issue(ca, common_name=common_name, hosts=list(hosts), organizations=organizations, server=server,
                      client=client, days=DAYS)
    return KeyPair(_write(directory / f"{name}.crt", cert), _write(directory / f"{name}.key", key))


def service_account_keys(directory: Path) -> KeyPair:
    """The RSA pair the apiserver signs service-account tokens with (public half verifies them)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pub = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return KeyPair(_write(directory / "sa.pub", pub), _write(directory / "sa.key", private))
