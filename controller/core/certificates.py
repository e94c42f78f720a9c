"""The webhook's own CA and serving certificate: made, checked for renewal, kept in a Secret.

Pure functions make and judge certificates (the test control plane's PKI uses them too);
cert_store.py is the thin I/O that keeps them in the cluster. No cert-manager needed.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 3650
SERVING_DAYS = 365
RENEW_BEFORE = dt.timedelta(days=30)


@dataclass(frozen=True)
class Authority:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class ServingCert:
    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes

    def secret_data(self) -> dict[str, str]:
        return {k: base64.b64encode(v).decode() for k, v in
                (("ca.crt", self.ca_pem), ("tls.crt", self.cert_pem), ("tls.key", self.key_pem))}

    @classmethod
    def from_secret_data(cls, data: dict[str, str]) -> ServingCert:
        return cls(*(base64.b64decode(data[k]) for k in ("ca.crt", "tls.crt", "tls.key")))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def make_ca(name: str, *, now: dt.datetime | None = None, days: int = CA_DAYS) -> Authority:
    now = now or _now()
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return Authority(key, cert)


def issue(ca: Authority, *, common_name: str, hosts: Sequence[str] = (), organizations: tuple[str, ...] = (),
          server: bool = True, client: bool = False, now: dt.datetime | None = None,
          days: int = SERVING_DAYS) -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) signed by ``ca``; ``hosts`` are DNS names or IP addresses."""
    now = now or _now()
    key = ec.generate_private_key(ec.SECP256R1())
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    attrs += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if server else []) + ([ExtendedKeyUsageOID.CLIENT_AUTH] if client else [])
    builder = (x509.CertificateBuilder().subject_name(x509.Name(attrs)).issuer_name(ca.cert.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False))
    if hosts:
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca.key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem(key)


def make_serving_cert(*, hosts: list[str], now: dt.datetime | None = None, ca_days: int = CA_DAYS,
                      serving_days: int = SERVING_DAYS) -> ServingCert:
    """A fresh CA and a serving certificate for ``hosts``."""
    ca = make_ca("kubectl-oras webhook CA", now=now, days=ca_days)
    cert, key = issue(ca, common_name=hosts[0], hosts=hosts, now=now, days=serving_days)
    return ServingCert(ca.pem, cert, key)


def needs_renewal(cert: ServingCert, *, hosts: list[str], now: dt.datetime | None = None,
                  renew_before: dt.timedelta = RENEW_BEFORE) -> bool:
    """Renew when expiry is near, or when the certificate no longer names every host we serve."""
    now = now or _now()
    try:
        serving = x509.load_pem_x509_certificate(cert.cert_pem)
        ca = x509.load_pem_x509_certificate(cert.ca_pem)
    except ValueError:
        return True
    if min(serving.not_valid_after_utc, ca.not_valid_after_utc) - now < renew_before:
        return True
    try:
        san = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return True
    named = {str(n) for n in san.get_values_for_type(x509.DNSName)} | {str(n) for n in san.get_values_for_type(x509.IPAddress)}
    return not set(hosts) <= named


def service_hosts(service: str, namespace: str) -> list[str]:
    return [f"{service}.{namespace}.svc", f"{service}.{namespace}.svc.cluster.local", f"{service}.{namespace}", service]
