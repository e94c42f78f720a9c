"""A bearer-token service for a real registry's `auth.token` mode (the docker token protocol).

The registry is real and verifies every token itself (ES256 JWT whose x5c certificate is in its
rootcertbundle); only the token issuer is ours. It grants the requested actions to one user
with the right password, and nothing to anyone else.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from controller.core.certificates import make_ca

from .net import free_port

SERVICE, ISSUER = "kubectl-oras-test-registry", "kubectl-oras-test-issuer"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenService:
    def __init__(self, directory: Path, *, user: str, password: str) -> None:
        self.user, self.password = user, password
        ca = make_ca("token-signer", days=2)
        self.key = ca.key
        self.cert_der = ca.cert.public_bytes(serialization.Encoding.DER)
        self.bundle = directory / "token-signer.crt"
        self.bundle.write_bytes(ca.pem)
        self.port = free_port()
        self.realm = f"http://127.0.0.1:{self.port}/token"
        self.issued: list[str] = []  # scopes granted, for assertions
        self.busy = 0  # answer 503 to this many of the next requests (a token service restarting)
        self.read_only = False  # grant only "pull", whatever is asked (a user who may read, not write)
        self._server: ThreadingHTTPServer | None = None

    def token(self, access: list[dict]) -> str:
        now = int(time.time())
        header = {"alg": "ES256", "typ": "JWT", "x5c": [base64.b64encode(self.cert_der).decode()]}
        claims = {"iss": ISSUER, "sub": self.user, "aud": SERVICE, "exp": now + 300, "nbf": now - 10, "iat": now,
                  "jti": uuid.uuid4().hex, "access": access}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        r, s = decode_dss_signature(self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        return f"{signing_input}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def registry_auth_config(self) -> dict:
        return {"token": {"realm": self.realm, "service": SERVICE, "issuer": ISSUER, "rootcertbundle": str(self.bundle)}}

    def start(self) -> TokenService:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                if service.busy > 0:
                    service.busy -= 1
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                expected = "Basic " + base64.b64encode(f"{service.user}:{service.password}".encode()).decode()
                if self.headers.get("Authorization") != expected:
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                query = parse_qs(urlparse(self.path).query)
                access = []
                for scope in query.get("scope", []):
                    kind, name, actions = scope.split(":", 2)
                    granted = [a for a in actions.split(",") if a == "pull" or not service.read_only]
                    access.append({"type": kind, "name": name, "actions": granted})
                    service.issued.append(scope)
                body = json.dumps({"token": service.token(access), "expires_in": 300}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
