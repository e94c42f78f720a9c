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
change in the registry's own storage (a file it reads every 2 seconds) and reclaims once. A disk
too full to take the marker is reclaimed when it is 90% full and the collector's dry run finds
something to free. At most one stop every 5 minutes, whoever asks.

The script is part of the registry pod's template, which a controller upgrade leaves as it is
(cache_objects.py: a changed template would replace the pod and empty an emptyDir cache): a new
build's script reaches a cache's registry with the next change of its spec that replaces the pod.

Never ``--delete-untagged``: builds of distribution differ in what it deletes (2.x, and forks
that print a v3 version, delete the manifests a tagged index lists). Retention deletes manifests
by digest once no tag needs them, so the plain collector frees them (docs/retention.md).
"""

from __future__ import annotations

from kubectl_oras.retention.choice import RESERVED_PREFIX

MARKER_REPOSITORY = f"{RESERVED_PREFIX}reclaim"  # under ours: retention never deletes it
MARKER_TAG = "request"
MARKER_ARTIFACT_TYPE = "application/vnd.kubectl-oras.reclaim.v1"
DRAIN_SECONDS = 10  # REGISTRY_HTTP_DRAINTIMEOUT: requests in flight finish before a stop

SUPERVISOR = r"""
set -u
PAUSE="${KUBECTL_ORAS_RECLAIM_PAUSE:-300}"
FULL="${KUBECTL_ORAS_RECLAIM_FULL_PERCENT:-90}"
root="${REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY:-/var/lib/registry}"
mark="$root/docker/registry/v2/repositories/kubectl-oras/reclaim/_manifests/tags/request/current/link"
done_file="$root/.kubectl-oras-reclaimed"
log="${TMPDIR:-/tmp}/kubectl-oras-gc.log"
config="${KUBECTL_ORAS_REGISTRY_CONFIG:-${REGISTRY_CONFIGURATION_PATH:-}}"
if [ -z "$config" ]; then
  for c in /etc/distribution/config.yml /etc/docker/registry/config.yml; do
    if [ -f "$c" ]; then config="$c"; break; fi
  done
fi
registry="$(command -v registry || echo /bin/registry)"
limit=
if command -v timeout >/dev/null 2>&1; then limit="timeout 900"; fi
pid=
gc=
serve() { "$registry" serve ${config:+"$config"} & pid=$!; }
halt() { if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null; wait "$pid"; fi; pid=; }
finish() {
  trap '' TERM INT
  if [ -n "$gc" ]; then kill -TERM "$gc" 2>/dev/null; fi
  halt
  exit 0
}
trap finish TERM INT
# The marker last acted on survives a restart of the container: one that came while the
# collector ran (or was cut) is acted on again.
seen="$(cat "$done_file" 2>/dev/null || true)"
last=0
serve
while :; do
  sleep 2 & wait $!
  if ! kill -0 "$pid" 2>/dev/null; then
    wait "$pid"; code=$?
    echo "kubectl-oras: the registry exited ($code)" >&2
    exit "$code"
  fi
  now="$(cat "$mark" 2>/dev/null || true)"
  t="$(date +%s)"
  # at most one stop a pause, whoever pushes the marker (anyone with the cache's password can)
  if [ $(( t - last )) -lt "$PAUSE" ]; then continue; fi
  why=
  if [ -n "$now" ] && [ "$now" != "$seen" ]; then
    why="asked by $now"
  else
    # a full disk cannot take the marker: reclaim when it is nearly full and there is something to free
    set -- $(df -P "$root" 2>/dev/null | tail -n 1)
    used="${5:-0%}"; used="${used%\%}"
    case "$used" in ''|*[!0-9]*) used=0 ;; esac
    if [ "$used" -ge "$FULL" ]; then
      last="$t"
      if "$registry" garbage-collect --dry-run ${config:+"$config"} 2>/dev/null | grep -q "blob eligible for deletion"; then
        why="the disk is $used% full"
      fi
    fi
  fi
  if [ -z "$why" ]; then continue; fi
  last="$t"
  before="$(du -sk "$root" 2>/dev/null | cut -f1)"
  echo "kubectl-oras: reclaiming disk ($why); the registry stops for the garbage collector" >&2
  halt
  $limit "$registry" garbage-collect ${config:+"$config"} > "$log" 2>&1 &
  gc=$!
  wait "$gc"
  code=$?
  gc=
  serve
  tail -n 3 "$log" >&2
  if [ "$code" -eq 0 ]; then
    if [ -n "$now" ]; then seen="$now"; echo "$now" > "$done_file"; fi
    after="$(du -sk "$root" 2>/dev/null | cut -f1)"
    echo "kubectl-oras: reclaimed $(( ${before:-0} - ${after:-0} )) KiB (${before:-?} KiB before, ${after:-?} KiB after)" >&2
  else
    echo "kubectl-oras: the garbage collector failed (exit $code); the registry serves again, retried after a pause" >&2
  fi
done
"""


def supervisor_command(*, build_mark: str = "") -> list[str]:
    """The registry container's command: the script, run by the image's POSIX shell. ``build_mark``
    (a test's stand-in for another build of the controller, cache_objects.py) adds a comment line."""
    mark = f"# build {build_mark}\n" if build_mark else ""
    return ["/bin/sh", "-c", mark + SUPERVISOR.strip() + "\n", "kubectl-oras-registry"]
