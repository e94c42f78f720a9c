"""One module owns kubernetes-asyncio's internals: only kubectl_oras/kube/api.py (``Kube``) calls
``call_api``, reaches the client's aiohttp session or its auth hooks, catches its ``ApiException``,
and says "cannot reach the Kubernetes API". Read from the source with ast, so a second copy of the
request path or of the mapping (a new watch, another websocket) fails here naming the file."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OWNER = REPO / "kubectl_oras" / "kube" / "api.py"
INTERNALS = frozenset({"call_api", "rest_client", "pool_manager", "update_params_for_auth", "ws_connect",
                       "ApiException", "default_headers"})
UNREACHABLE = "cannot reach the Kubernetes API"


def uses(path: Path) -> set[str]:
    """The client internals ``path`` names, and the unreachable wording if it spells it."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Attribute) and node.attr in INTERNALS:
            found.add(node.attr)
        elif isinstance(node, ast.Name) and node.id in INTERNALS:
            found.add(node.id)
        elif isinstance(node, ast.alias) and node.name.rsplit(".", 1)[-1] in INTERNALS:
            found.add(node.name.rsplit(".", 1)[-1])
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and UNREACHABLE in node.value:
            found.add(UNREACHABLE)
    return found


def test_only_kube_api_drives_the_client_and_says_the_api_is_unreachable():
    sources = [p for folder in ("kubectl_oras", "controller") for p in sorted((REPO / folder).rglob("*.py"))]
    others = {str(p.relative_to(REPO)): found for p in sources if p != OWNER and (found := uses(p))}
    assert others == {}
    assert uses(OWNER) >= INTERNALS | {UNREACHABLE}, "the owner is where the checker looks"


def test_the_checker_sees_each_way_of_reaching_in(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from kubernetes_asyncio.client.exceptions import ApiException\n"
                      "async def f(kube):\n"
                      "    await kube.api.call_api('/x', 'GET')\n"
                      "    kube.api.rest_client.pool_manager.ws_connect('u')\n"
                      "    raise ValueError(f'{1}: cannot reach the Kubernetes API at {2}')\n")
    assert uses(sample) == {"ApiException", "call_api", "rest_client", "pool_manager", "ws_connect", UNREACHABLE}
