"""An in-memory registry on 127.0.0.1 that serves the referrers API, as distribution-spec 1.1 has
it, and little else: blobs (monolithic uploads), manifests by tag and digest, and
``GET /v2/<name>/referrers/<digest>``. A PUT of a manifest with a ``subject`` is answered with
``OCI-Subject``. No registry the tests run answers that header (go-containerregistry's serves
the API but does not: docs/provenance.md), so this double stands for the registries that do."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .net import free_port

INDEX = "application/vnd.oci.image.index.v1+json"
_PATH = re.compile(r"/v2/(?P<name>.+?)/(?P<kind>blobs/uploads/|blobs|manifests|referrers)/?(?P<ref>[^?]*)")


class _Server(ThreadingHTTPServer):
    store: ReferrersRegistry


class _Handler(BaseHTTPRequestHandler):
    """The API above, over the server's ``store``."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args: object) -> None:  # the tests read no access log
        return None

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_POST(self) -> None:
        self._body()
        name = _PATH.match(self.path)["name"]
        self._send(202, headers={"Location": f"/v2/{name}/blobs/uploads/one"})

    def do_PUT(self) -> None:
        body, match = self._body(), _PATH.match(self.path)
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        if match["kind"] == "blobs/uploads/":
            self.server.store.blobs[self.path.split("digest=")[1].replace("%3A", ":")] = body
            return self._send(201)
        media_type = self.headers.get("Content-Type", "")
        self.server.store.manifests[(match["name"], match["ref"])] = self.server.store.manifests[(match["name"], digest)] = \
            (body, media_type)
        subject = json.loads(body).get("subject")
        self._send(201, headers={"Docker-Content-Digest": digest,
                                 **({"OCI-Subject": subject["digest"]} if subject else {})})

    def do_GET(self) -> None:
        match = _PATH.match(self.path)
        if match is None:
            return self._send(200, b"{}")
        name, kind, ref = match["name"], match["kind"], match["ref"]
        if kind == "blobs":
            found = self.server.store.blobs.get(ref)
            return self._send(200, found) if found is not None else self._send(404)
        if kind == "referrers":
            listed = []
            for (repo, key), (body, media_type) in self.server.store.manifests.items():
                manifest = json.loads(body)
                if repo == name and key.startswith("sha256:") and (manifest.get("subject") or {}).get("digest") == ref:
                    listed.append({"mediaType": media_type, "digest": key, "size": len(body),
                                   "artifactType": manifest.get("artifactType", "")})
            listed += self.server.store.also_listed  # a registry that lists what it does not hold
            index = {"schemaVersion": 2, "mediaType": INDEX, "manifests": listed}
            return self._send(200, json.dumps(index).encode(), {"Content-Type": INDEX})
        found = self.server.store.manifests.get((name, ref))
        if found is None:
            return self._send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}',
                              {"Content-Type": "application/json"})
        body, media_type = found
        self._send(200, body, {"Content-Type": media_type,
                               "Docker-Content-Digest": "sha256:" + hashlib.sha256(body).hexdigest()})

    def do_HEAD(self) -> None:
        match = _PATH.match(self.path)
        if match["kind"] == "blobs":
            return self._send(200 if match["ref"] in self.server.store.blobs else 404)
        self.do_GET()


@dataclass
class ReferrersRegistry:
    blobs: dict[str, bytes] = field(default_factory=dict)
    manifests: dict[tuple[str, str], tuple[bytes, str]] = field(default_factory=dict)  # (repo, tag or digest)
    also_listed: list[dict[str, object]] = field(default_factory=list)  # descriptors every listing adds
    host: str = ""
    _server: _Server | None = None

    def start(self) -> ReferrersRegistry:
        self._server = _Server(("127.0.0.1", free_port()), _Handler)
        self._server.store = self
        self.host = f"127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
