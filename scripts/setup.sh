#!/usr/bin/env bash
# Install what this project needs on a fresh Debian machine: Debian packages, the Python package
# with its test extras, and the Go-built test binaries (cached in ~/.cache/kubectl-oras).
# Idempotent: a second run only checks.
#
#   scripts/setup.sh            packages + Python package
#   scripts/setup.sh --tests    ... + zsh and fish + test binaries (oras CLI, distribution v3,
#                               the referrers-API registry, Kubernetes)
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(docker-registry apache2-utils openssl curl busybox-static containerd runc containernetworking-plugins iproute2
              debootstrap buildah iptables)
if [[ "${1:-}" == "--tests" ]]; then
  APT_PACKAGES+=(zsh fish)  # tests/cli/test_completion_scripts.py runs `completion zsh|fish` in them
fi

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
# (with the test extras) is present, at its pinned version where it has one (scripts/installed.py).
installed() {
  python3 -I scripts/installed.py "$PWD"  # -I: never the checkout itself through the current directory
}
if ! installed 2>/dev/null; then
  echo "setup: pip install -e .[test]" >&2
  python3 -m pip install -q --disable-pip-version-check -e ".[test]" >&2
fi

if [[ "${1:-}" == "--tests" ]]; then
  # The Snakemake storage plugin is a distribution of its own (integrations/snakemake): built as its
  # wheel and installed, with the Snakemake it is tested against, every run (a few seconds).
  python3 -m pip install -q --disable-pip-version-check -r integrations/snakemake/requirements-ci.txt >&2
  wheels=$(mktemp -d)
  python3 -m pip wheel -q --disable-pip-version-check --no-deps --no-build-isolation integrations/snakemake -w "$wheels" >&2
  python3 -m pip install -q --disable-pip-version-check --no-deps --force-reinstall "$wheels"/snakemake_storage_plugin_oras-*.whl >&2
  rm -rf "$wheels" integrations/snakemake/build integrations/snakemake/*.egg-info
  bash localcluster/build.sh >&2
fi
