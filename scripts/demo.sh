#!/usr/bin/env bash
# The main job: a user's journey on a real cluster, end to end (docs/local-cluster.md).
#
#   bash scripts/demo.sh                      on a local cluster this script brings up (root)
#   bash scripts/demo.sh --context NAME       on the cluster of a kubeconfig context of yours
#                        [--image IMAGE]      the controller/agent image that cluster can pull
#                        [--nodes N]          nodes of the local cluster (default 2)
#                        [--namespace NS]     default kubectl-oras-demo (made afresh)
#                        [--out DIR]          where the results go (default ./data)
#
# 1. set up: Debian packages and this package; the local cluster unless --context is given
# 2. kubectl oras install                      the controller and the webhook
# 3. kubectl oras create-cache oras --wait     a registry in the namespace, auth on
# 4. a metrics experiment: a step writing a directory of results (as hwloc's /tmp/analysis) and a
#    step whose log is kept through output-pipe (as lammps.out), annotated with kubectl oras annotate
# 5. kubectl oras pull metric/hwloc:iter-0 and metric/lammps:iter-0 into ./data, and the tree
#
# Each phase prints its wall time; DEMO_TIMINGS=FILE also writes them there (bench/main_job.py).
set -euo pipefail
caller="$PWD"  # --out and ./data are the caller's, not the checkout's
cd "$(dirname "$0")/.."

context="" image="" nodes=2 ns="kubectl-oras-demo" out="$caller/data"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --context) context="$2"; shift 2 ;;
    --image) image="$2"; shift 2 ;;
    --nodes) nodes="$2"; shift 2 ;;
    --namespace|-n) ns="$2"; shift 2 ;;
    --out) out="$(cd "$caller" && realpath -m "$2")"; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

began=$SECONDS phase_began=$SECONDS phase=""
: > "${DEMO_TIMINGS:=/dev/null}"
step() {  # ends the phase under way (its time) and, given a title, starts the next
  [[ -n "$phase" ]] && { echo "   ($phase: $((SECONDS - phase_began))s)"; echo "$phase $((SECONDS - phase_began))" >> "$DEMO_TIMINGS"; }
  phase="${1:-}" phase_began=$SECONDS
  [[ -n "$phase" ]] && { echo; echo "== $2"; }
  return 0
}

step setup "set up: packages, this package$( [[ -z "$context" ]] && echo ', and a local cluster')"
bash scripts/setup.sh
if [[ -n "$context" ]]; then
  kubectl config get-contexts "$context" >/dev/null || { echo "demo.sh: no context $context in your kubeconfig" >&2; exit 1; }
  k=(kubectl --context "$context")
else
  line="$(bash scripts/local-cluster.sh up --nodes "$nodes")"  # an assignment keeps up's exit status for set -e
  eval "$line"
  export KUBECONFIG
  k=(kubectl)
fi
"${k[@]}" get nodes
# kubectl oras COMMAND [--context]: kubectl hands a plugin no flag before its name, and the
# plugin's flags follow the command
ko() { kubectl oras "$1" ${context:+--context "$context"} "${@:2}"; }

step install "kubectl oras install"
ko install ${image:+--image "$image"}

step cache "kubectl oras create-cache oras --wait (namespace $ns, made afresh)"
# Only a namespace this script made (it carries the label) is deleted; any other is left alone.
if "${k[@]}" get namespace "$ns" >/dev/null 2>&1; then
  if [[ "$("${k[@]}" get namespace "$ns" -o 'jsonpath={.metadata.labels.kubectl-oras-demo}')" != "true" ]]; then
    echo "demo.sh: namespace $ns exists and was not made by this script; choose another with --namespace" >&2
    exit 1
  fi
  "${k[@]}" delete namespace "$ns" --wait=true >/dev/null
fi
"${k[@]}" create namespace "$ns" >/dev/null
"${k[@]}" label namespace "$ns" kubectl-oras-demo=true >/dev/null
ko create-cache oras -n "$ns" --wait

step experiment "a metrics experiment: hwloc writes a directory, lammps a log (output-pipe)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
bash scripts/demo-jobs.sh hwloc > "$work/hwloc.yaml"
bash scripts/demo-jobs.sh lammps > "$work/lammps.yaml"
ko annotate -f "$work/hwloc.yaml" --output metric/hwloc:iter-0 --output-path /tmp/analysis \
  | "${k[@]}" apply -n "$ns" -f -
ko annotate -f "$work/lammps.yaml" --output metric/lammps:iter-0 --output-pipe lammps.out \
    --output-path lammps.out \
  | "${k[@]}" apply -n "$ns" -f -
for job in hwloc lammps; do  # until each succeeded or failed (kubectl wait knows only one outcome)
  for _ in $(seq 600); do
    outcome="$("${k[@]}" get job "$job" -n "$ns" -o 'jsonpath={.status.succeeded}/{.status.failed}')"
    [[ "$outcome" != "/" ]] && break
    sleep 0.5
  done
  if [[ "$outcome" != 1/ ]]; then
    echo "demo.sh: step $job did not succeed (succeeded/failed: $outcome); its pods:" >&2
    "${k[@]}" get pods -n "$ns" -l job-name="$job" -o wide >&2
    exit 1
  fi
  echo "step $job succeeded"
done
"${k[@]}" get pods -n "$ns" -o wide

step pull "kubectl oras pull metric/hwloc:iter-0 and metric/lammps:iter-0 into ./data"
rm -rf "${out:?}/analysis" "$out/lammps.out"  # only what this pull puts there: anything else in $out stays
ko tags metric/hwloc -n "$ns"
ko pull metric/hwloc:iter-0 -o "$out" -n "$ns"
ko pull metric/lammps:iter-0 -o "$out" -n "$ns"
(cd "$(dirname "$out")" && find "$(basename "$out")" | sort | sed 's/[^/]*\//  /g')
echo; echo "$out/lammps.out:"; cat "$out/lammps.out"
step
echo "done in $((SECONDS - began))s: the results are in $out; \`kubectl oras status -n $ns\` shows the cache"
[[ -z "$context" ]] && echo "the local cluster stays up (bash scripts/local-cluster.sh down removes it); export KUBECONFIG=$KUBECONFIG"
exit 0
