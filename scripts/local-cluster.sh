#!/usr/bin/env bash
# A Kubernetes cluster on this machine, for people without one (docs/local-cluster.md):
#   bash scripts/local-cluster.sh up [--nodes N]   start it (idempotent); prints `export KUBECONFIG=…`
#   bash scripts/local-cluster.sh status
#   bash scripts/local-cluster.sh down             stop it and remove everything it made
# Needs root. The first `up` installs the Debian packages and builds Kubernetes, etcd, CoreDNS and
# the registry from pinned Go modules (~10 min, cached in ~/.cache/kubectl-oras), and the project's
# image with buildah.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-}" == "up" ]]; then
  bash scripts/setup.sh
fi
exec python3 -m localcluster "$@"
