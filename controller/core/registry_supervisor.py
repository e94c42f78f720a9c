"""The registry container's supervisor: serve, and reclaim disk when asked (docs/retention.md).

distribution frees the disk of deleted tags only when its garbage collector runs, and that
collector must not run beside a registry taking uploads: it deletes every blob no manifest lists
yet, which is what a push between its uploads and its manifest has. So the registry container
runs this POSIX sh script (the official images have a shell) instead of ``registry serve``: it
serves, and when asked it stops the registry (draining requests in flight), runs
``registry garbage-collect``, and serves again. Pushes meanwhile find the port closed for a
second or two and retry (the engine's retry policy); a push whose uploads the collector swept
uploads them again when the manifest is refused (oci/push.py). The container is not restarted,
so an emptyDir keeps its artifacts, and the restart empties the registry's in-memory blob
descriptor cache, which would otherwise vouch for swept blobs.

Asking needs no exec and no new RBAC: the controller, which already holds the cache's password,
pushes a small marker artifact to ``kubectl-oras/reclaim:request``; the script notices its tag
change in the registry's own storage (a file it reads every 2 seconds) and reclaims once.
"""

from __future__ import annotations

MARKER_REPOSITORY = "kubectl-oras/reclaim"
MARKER_TAG = "request"
MARKER_ARTIFACT_TYPE = "application/vnd.kubectl-oras.reclaim.v1"
RESERVED_PREFIX = "kubectl-oras/"  # repositories of ours: retention leaves them alone
DRAIN_SECONDS = 10  # REGISTRY_HTTP_DRAINTIMEOUT: requests in flight finish before a stop

SUPERVISOR = r"""
set -u
root="${REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY:-/var/lib/registry}"
mark="$root/docker/registry/v2/repositories/kubectl-oras/reclaim/_manifests/tags/request/current/link"
config="${KUBECTL_ORAS_REGISTRY_CONFIG:-}"
if [ -z "$config" ]; then
  for c in /etc/distribution/config.yml /etc/docker/registry/config.yml; do
    if [ -f "$c" ]; then config="$c"; break; fi
  done
fi
registry="$(command -v registry || echo /bin/registry)"
# v3 deletes a tag by untagging: its manifest goes only with --delete-untagged. 2.x deletes
# manifests by digest, and its --delete-untagged deletes the children of tagged indexes.
case "$("$registry" --version 2>&1)" in
  *distribution/v3*) untagged=--delete-untagged ;;
  *) untagged= ;;
esac
pid=
serve() { "$registry" serve "$config" & pid=$!; }
halt() { if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null; wait "$pid"; fi; pid=; }
trap 'halt; exit 0' TERM INT
seen="$(cat "$mark" 2>/dev/null || true)"
serve
while :; do
  sleep 2 & wait $!
  if ! kill -0 "$pid" 2>/dev/null; then
    wait "$pid"; code=$?
    echo "kubectl-oras: the registry exited ($code)" >&2
    exit "$code"
  fi
  now="$(cat "$mark" 2>/dev/null || true)"
  if [ -z "$now" ] || [ "$now" = "$seen" ]; then continue; fi
  seen="$now"
  before="$(du -sk "$root" 2>/dev/null | cut -f1)"
  echo "kubectl-oras: reclaiming disk (asked by $now); the registry stops for the garbage collector" >&2
  halt
  "$registry" garbage-collect $untagged "$config" 2>&1 | tail -n 3 >&2
  serve
  after="$(du -sk "$root" 2>/dev/null | cut -f1)"
  echo "kubectl-oras: reclaimed $(( ${before:-0} - ${after:-0} )) KiB (${before:-?} KiB before, ${after:-?} KiB after)" >&2
done
"""


def supervisor_command() -> list[str]:
    """The registry container's command: the script, run by the image's POSIX shell."""
    return ["/bin/sh", "-c", SUPERVISOR.strip() + "\n", "kubectl-oras-registry"]
