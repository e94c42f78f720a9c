#!/usr/bin/env bash
# Install what this project needs on a fresh Debian machine: Debian packages, the Python package
# with its test extras, and the Go-built test binaries (cached in ~/.cache/kubectl-oras).
# Idempotent: a second run only checks.
#
#   scripts/setup.sh            packages + Python package
#   scripts/setup.sh --tests    ... + test binaries (oras CLI, distribution v3, Kubernetes)
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(docker-registry apache2-utils openssl curl busybox-static containerd runc containernetworking-plugins iproute2
              debootstrap buildah iptables)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2
  apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

# Installed already when this checkout is the one installed and every requirement in pyproject.toml
# (with the test extras) is present, at its pinned version where it has one.
installed() {
  python3 - "$PWD" <<'PY'
import importlib.metadata as md, os, re, sys, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
for req in project["dependencies"] + project["optional-dependencies"]["test"]:
    name = re.split(r"[ ;<>=!~\[]", req, maxsplit=1)[0]
    try:
        have = md.version(name)
    except md.PackageNotFoundError:
        sys.exit(1)
    pin = re.search(r"==([^;, ]+)", req)
    if pin and have != pin.group(1):
        sys.exit(1)
import kubectl_oras
sys.exit(os.path.dirname(os.path.dirname(kubectl_oras.__file__)) != sys.argv[1])
PY
}
if ! installed 2>/dev/null; then
  echo "setup: pip install -e .[test]" >&2
  python3 -m pip install -q --disable-pip-version-check -e ".[test]" >&2
fi

if [[ "${1:-}" == "--tests" ]]; then
  bash localcluster/build.sh >&2
fi
