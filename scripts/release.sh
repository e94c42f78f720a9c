#!/usr/bin/env bash
# Build the krew release of this machine's platform: a frozen one-folder bundle of the plugin
# (PyInstaller; no Python needed where it runs), packed with LICENSE into a reproducible
# kubectl-oras_vX.Y.Z_OS_ARCH.tar.gz, and the krew manifest that names it (docs/packaging.md).
#
#   scripts/release.sh [--out DIR] [--write-krew-yaml] [--refresh-constraints]
#
# --out DIR              copy the archive and the manifest (oras.yaml) there (default: dist/)
# --write-krew-yaml      also rewrite the repository's krew.yaml from this build (a release does)
# --refresh-constraints  resolve the requirements anew (newest allowed versions) and write them to
#                        scripts/release/constraints.txt, then build with them
#
# Prints "archive=PATH" and "manifest=PATH" (the cached copies) on stdout. The build is cached in
# ~/.cache/kubectl-oras/release/, keyed by the sources it freezes, this script and the Python it
# runs: a second run with nothing changed does no work. The build environment (PyInstaller, the
# runtime dependencies, no test tools) is a virtualenv there too, keyed by the requirements and
# scripts/release/constraints.txt: the exact version of every distribution a release freezes, so
# that two builds of one commit, anywhere, freeze the same code.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
CACHE="${KUBECTL_ORAS_CACHE:-$HOME/.cache/kubectl-oras}"
PYTHON="${PYTHON:-python3}"
OUT="$REPO/dist"
WRITE_KREW_YAML=false
REFRESH=false
CONSTRAINTS=scripts/release/constraints.txt
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) OUT="$(realpath -m "$2")"; shift 2 ;;
    --write-krew-yaml) WRITE_KREW_YAML=true; shift ;;
    --refresh-constraints) REFRESH=true; shift ;;
    *) echo "release.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
log() { echo "release.sh: $*" >&2; }

case "$(uname -s)/$(uname -m)" in
  Linux/x86_64) OS=linux ARCH=amd64 ;;
  Linux/aarch64) OS=linux ARCH=arm64 ;;
  Darwin/x86_64) OS=darwin ARCH=amd64 ;;
  Darwin/arm64) OS=darwin ARCH=arm64 ;;
  *) log "no krew platform for $(uname -s)/$(uname -m)"; exit 2 ;;
esac

# The build environment: the runtime requirements and the [release] extra, nothing else.
requirements="$("$PYTHON" - <<'PY'
import tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
print("\n".join(project["dependencies"] + project["optional-dependencies"]["release"]))
PY
)"
python_id="$("$PYTHON" -c 'import sys, sysconfig; print(sys.version, sysconfig.get_config_var("LDLIBRARY"), sys.executable)')"
mapfile -t reqs <<<"$requirements"
pip_install() { "$1/bin/python" -m pip install -q --disable-pip-version-check "${@:2}" "${reqs[@]}" >&2; }
if $REFRESH; then
  fresh="$(mktemp -d)"; trap 'rm -rf "$fresh"' EXIT
  "$PYTHON" -m venv "$fresh/env"
  pip_install "$fresh/env"
  { echo "# The exact versions scripts/release.sh freezes (scripts/release.sh --refresh-constraints writes this)."
    "$fresh/env/bin/python" -m pip freeze --disable-pip-version-check --all | grep -vE '^(pip|setuptools|wheel)=='
  } > "$CONSTRAINTS"
  log "$CONSTRAINTS written"
fi
env_key="$(printf '%s\n%s\n' "$python_id" "$requirements" | cat - "$CONSTRAINTS" | sha256sum | cut -c1-12)"
VENV="$CACHE/release-env-$env_key"
if [[ ! -f "$VENV/.complete" ]]; then
  log "build environment: $VENV"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  pip_install "$VENV" -c "$CONSTRAINTS"
  # The constraints must name exactly what is installed: a distribution no longer needed (pydantic
  # left with typer 0.29) or one not pinned (a new dependency) means they are stale.
  installed="$("$VENV/bin/python" -m pip freeze --disable-pip-version-check --all | grep -vE '^(pip|setuptools|wheel)==' | LC_ALL=C sort -f)"
  pinned="$(grep -v '^#' "$CONSTRAINTS" | LC_ALL=C sort -f)"
  if [[ "$installed" != "$pinned" ]]; then
    log "$CONSTRAINTS is not what the requirements install (< pinned, > installed):"
    diff <(echo "$pinned") <(echo "$installed") >&2 || true
    log "fix it, or rewrite it: scripts/release.sh --refresh-constraints"
    rm -rf "$VENV"; exit 1
  fi
  touch "$VENV/.complete"
  # One environment is kept: the others belong to requirements or constraints no longer in use.
  find "$CACHE" -mindepth 1 -maxdepth 1 -name 'release-env-*' ! -path "$VENV" -exec rm -rf {} +
fi

# What the build depends on: every file it freezes or that steers it, and the environment.
sources_key="$( (
  echo "$env_key"
  "$VENV/bin/python" -m pip freeze --disable-pip-version-check
  find kubectl_oras manifests scripts/release -type f ! -name '*.pyc' ! -path '*/__pycache__/*' | LC_ALL=C sort | while read -r f; do
    echo "$f"; sha256sum < "$f"
  done
  for f in pyproject.toml setup.py LICENSE scripts/release.sh; do echo "$f"; sha256sum < "$f"; done
) | sha256sum | cut -c1-16)"
BUILD="$CACHE/release/$sources_key"
eval "$("$PYTHON" - <<'PY'
import runpy
krew = runpy.run_path("scripts/release/krew.py")
tag = krew["tag_of"](krew["package_version"]())
print(f"TAG={tag}")
PY
)"
ARCHIVE="$BUILD/kubectl-oras_${TAG}_${OS}_${ARCH}.tar.gz"
MANIFEST="$BUILD/oras.yaml"

if [[ -f "$ARCHIVE" && -f "$MANIFEST" ]]; then
  log "$TAG $OS/$ARCH: cached ($BUILD)"
else
  start=$SECONDS
  log "$TAG $OS/$ARCH: freezing with $("$VENV/bin/pyinstaller" --version) into $BUILD"
  rm -rf "$BUILD.tmp"; mkdir -p "$BUILD.tmp"
  # A fixed hash seed and timestamp: PyInstaller's output then depends on its inputs only.
  export PYTHONHASHSEED=0 SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-0}"
  # The spec imports the package to list its modules and data: from this checkout, never an installed copy.
  PYTHONPATH="$REPO" "$VENV/bin/pyinstaller" --noconfirm --clean --log-level WARN \
    --distpath "$BUILD.tmp/dist" --workpath "$BUILD.tmp/work" scripts/release/kubectl-oras.spec >&2
  bundle="$BUILD.tmp/dist/kubectl-oras"
  cp LICENSE "$bundle/LICENSE"
  "$PYTHON" scripts/release/krew.py completer "$bundle"
  "$VENV/bin/python" -m pip freeze --disable-pip-version-check > "$BUILD.tmp/requirements.txt"
  "$PYTHON" scripts/release/krew.py archive "$bundle" "$BUILD.tmp" "$OS" "$ARCH" >/dev/null
  "$PYTHON" scripts/release/krew.py manifest "$BUILD.tmp/$(basename "$ARCHIVE")" --output "$BUILD.tmp/oras.yaml"
  rm -rf "$BUILD.tmp/work"
  rm -rf "$BUILD"; mv "$BUILD.tmp" "$BUILD"
  log "$TAG $OS/$ARCH: built in $((SECONDS - start))s: $(du -sh "$BUILD/dist/kubectl-oras" | cut -f1) unpacked, $(du -h "$ARCHIVE" | cut -f1) archive"
  # Keep only the newest few builds: each is ~100 MB.
  find "$CACHE/release" -mindepth 1 -maxdepth 1 -type d ! -name '*.tmp' -printf '%T@ %p\n' | sort -rn | tail -n +4 \
    | cut -d' ' -f2- | xargs -r rm -rf
fi

mkdir -p "$OUT"
cp "$ARCHIVE" "$MANIFEST" "$OUT/"
if $WRITE_KREW_YAML; then cp "$MANIFEST" krew.yaml; log "krew.yaml written"; fi
echo "archive=$ARCHIVE"
echo "manifest=$MANIFEST"
