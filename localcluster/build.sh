#!/usr/bin/env bash
# Build the Go test-infrastructure binaries the tiers need, from pinned Go modules,
# into a cache outside the repository. A second run with the same pins does no work.
#
#   localcluster/build.sh [kube] [kubectl] [etcd] [coredns] [oras] [distribution] [referrers-registry] [krew]
#                                                                                  (default: all)
#
# Prints the cache directory of each built component on stdout, one "name=path" a line.
# Fails loudly (non-zero, with the go error) when a component cannot be built.
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.36.3}"
ORAS_VERSION="${ORAS_VERSION:-v1.3.2}"
DISTRIBUTION_VERSION="${DISTRIBUTION_VERSION:-v3.0.0}"
# The etcd the Kubernetes release is built against (its go.mod). Debian's 3.4.23 lacks the watch
# progress notifications kube-apiserver >= 1.31 relies on for consistent reads (docs/control-plane.md).
ETCD_VERSION="${ETCD_VERSION:-v3.6.8}"
# Cluster DNS for the tier-3 node (Service names inside pods).
COREDNS_VERSION="${COREDNS_VERSION:-v1.13.1}"
# The plugin manager and the krew-index's manifest validator (tests/packaging), both from sigs.k8s.io/krew.
KREW_VERSION="${KREW_VERSION:-v0.5.0}"
# The tier-1 tests' registry that serves the referrers API: go-containerregistry's pkg/registry
# behind our own main (localcluster/referrers-registry/main.go; docs/provenance.md).
GGCR_VERSION="${GGCR_VERSION:-v0.22.1}"
CACHE="${KUBECTL_ORAS_CACHE:-$HOME/.cache/kubectl-oras}"
KUBE_BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)

log() { echo "build.sh: $*" >&2; }

WORKDIRS=()
trap 'rm -rf "${WORKDIRS[@]}"' EXIT
new_workdir() { WORK="$(mktemp -d)"; WORKDIRS+=("$WORK"); }

# A wrapper module is the only way to build k8s.io/kubernetes commands outside its repo:
# its go.mod replaces every k8s.io/<staging> module with ./staging/src/..., which
# `go install pkg@version` refuses. We require the release and replace each staging module
# with its published v0.Y.Z twin, generated from that tag's own go.mod.
build_kube() {  # name binary...: k8s.io/kubernetes commands, into $CACHE/name-$KUBE_VERSION
  local name="$1"; shift
  local out="$CACHE/$name-$KUBE_VERSION"
  if all_present "$out" "$@"; then echo "$name=$out"; return; fi
  local start=$SECONDS work minor staging_version gomod
  new_workdir; work="$WORK"
  minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
  staging_version="v0.${KUBE_VERSION#v1.}"
  log "$name $KUBE_VERSION: downloading module"
  gomod="$(cd "$work" && go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')"
  {
    echo "module kubectl-oras.test/kube-build"
    echo
    grep -E '^go [0-9.]+$' "$gomod"
    grep -E '^godebug ' "$gomod" || true
    echo
    echo "require k8s.io/kubernetes $KUBE_VERSION"
    echo
    echo "replace ("
    grep -E '^\s+k8s.io/[a-z0-9-]+ => ./staging/src/' "$gomod" \
      | awk -v v="$staging_version" '{print "\t" $1 " => " $1 " " v}'
    echo ")"
  } > "$work/go.mod"
  local binary
  {
    printf '//go:build tools\n\npackage tools\n\nimport (\n'
    for binary in "$@"; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$binary"; done
    printf ')\n'
  } > "$work/tools.go"
  log "$name $KUBE_VERSION: resolving modules"
  (cd "$work" && GOFLAGS=-mod=mod go mod tidy -e >&2 && go mod download >&2)
  local ldflags="-s -w"
  local pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  rm -rf "$out.tmp"; mkdir -p "$out.tmp"
  for binary in "$@"; do
    log "$name $KUBE_VERSION: building $binary"
    (cd "$work" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out.tmp/$binary" "k8s.io/kubernetes/cmd/$binary" >&2)
  done
  rm -rf "$out"; mv "$out.tmp" "$out"
  log "$name $KUBE_VERSION: built in $((SECONDS - start))s"
  echo "$name=$out"
}

all_present() {
  local dir="$1"; shift
  local name
  for name in "$@"; do [[ -x "$dir/$name" ]] || return 1; done
}

# `go install pkg@version` would be the natural tool, but it reads the module's version list to
# check for deprecation, and the module proxy answers 403 for some lists (oras.land/oras, sigs.k8s.io/krew).
# A wrapper module that requires the exact version needs no list.
go_build_pinned() {  # name version module [ldflags] -- package binary [package binary...]
  local name="$1" version="$2" module="$3" extra_ldflags=""; shift 3
  if [[ "$1" != "--" ]]; then extra_ldflags="$1"; shift; fi
  shift  # --
  local pkgs=() binaries=()
  while [[ $# -gt 0 ]]; do pkgs+=("$1"); binaries+=("$2"); shift 2; done
  local out="$CACHE/$name-$version"
  if all_present "$out" "${binaries[@]}"; then echo "$name=$out"; return; fi
  local start=$SECONDS work i
  new_workdir; work="$WORK"
  log "$name $version: building ${pkgs[*]}"
  printf 'module kubectl-oras.test/%s-build\n\ngo 1.22\n\nrequire %s %s\n' "$name" "$module" "$version" > "$work/go.mod"
  {
    printf '//go:build tools\n\npackage tools\n\nimport (\n'
    for i in "${!pkgs[@]}"; do printf '\t_ "%s"\n' "${pkgs[$i]}"; done
    printf ')\n'
  } > "$work/tools.go"
  (cd "$work" && GOFLAGS=-mod=mod go mod tidy >&2)
  rm -rf "$out.tmp"; mkdir -p "$out.tmp"
  for i in "${!pkgs[@]}"; do
    (cd "$work" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $extra_ldflags" -o "$out.tmp/${binaries[$i]}" "${pkgs[$i]}" >&2)
  done
  rm -rf "$out"; mv "$out.tmp" "$out"
  log "$name $version: built in $((SECONDS - start))s"
  echo "$name=$out"
}

# A main of our own over a pinned module: the cache is keyed by the module's version and by the
# main's content, so an edit to main.go builds it again.
build_own_main() {  # name version module source-dir binary
  local name="$1" version="$2" module="$3" source="$4" binary="$5"
  local key out start=$SECONDS work
  key="$(cat "$source"/*.go | sha256sum | cut -c1-12)"
  out="$CACHE/$name-$version-$key"
  if all_present "$out" "$binary"; then echo "$name=$out"; return; fi
  new_workdir; work="$WORK"
  log "$name $version: building $source"
  printf 'module kubectl-oras.test/%s\n\ngo 1.22\n\nrequire %s %s\n' "$name" "$module" "$version" > "$work/go.mod"
  cp "$source"/*.go "$work/"
  (cd "$work" && GOFLAGS=-mod=mod go mod tidy >&2)
  rm -rf "$out.tmp"; mkdir -p "$out.tmp"
  (cd "$work" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out.tmp/$binary" . >&2)
  rm -rf "$out"; mv "$out.tmp" "$out"
  log "$name $version: built in $((SECONDS - start))s"
  echo "$name=$out"
}

main() {
  local targets=("$@")
  [[ ${#targets[@]} -gt 0 ]] || targets=(oras distribution referrers-registry etcd coredns kube kubectl krew)
  mkdir -p "$CACHE"
  local target
  for target in "${targets[@]}"; do
    case "$target" in
      kube) build_kube kube "${KUBE_BINARIES[@]}" ;;
      kubectl) build_kube kubectl kubectl ;;  # its own directory: adding it to kube's would rebuild all of them
      oras) go_build_pinned oras "$ORAS_VERSION" oras.land/oras -- oras.land/oras/cmd/oras oras ;;
      coredns) go_build_pinned coredns "$COREDNS_VERSION" github.com/coredns/coredns -- github.com/coredns/coredns coredns ;;
      etcd) go_build_pinned etcd "$ETCD_VERSION" go.etcd.io/etcd/server/v3 -- go.etcd.io/etcd/server/v3 etcd ;;
      distribution) go_build_pinned distribution "$DISTRIBUTION_VERSION" github.com/distribution/distribution/v3 -- \
                      github.com/distribution/distribution/v3/cmd/registry registry ;;
      referrers-registry) build_own_main referrers-registry "$GGCR_VERSION" github.com/google/go-containerregistry \
                            "$(dirname "${BASH_SOURCE[0]}")/referrers-registry" referrers-registry ;;
      # kubectl finds `kubectl-krew` on PATH as the `krew` plugin.
      krew) go_build_pinned krew "$KREW_VERSION" sigs.k8s.io/krew "-X sigs.k8s.io/krew/internal/version.gitTag=$KREW_VERSION" -- \
              sigs.k8s.io/krew/cmd/krew kubectl-krew sigs.k8s.io/krew/cmd/validate-krew-manifest validate-krew-manifest ;;
      *) log "unknown target '$target' (known: kube kubectl etcd coredns oras distribution referrers-registry krew)"; exit 2 ;;
    esac
  done
}

main "$@"
