#!/usr/bin/env bash
# The main job, on one machine: start a registry on loopback and run a two-step workflow whose
# steps hand files to each other through it, then pull the final result like a user would.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

work="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
cat > "$work/registry.yml" <<YAML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/data}, delete: {enabled: true}}
http: {addr: "127.0.0.1:$port"}
YAML
docker-registry serve "$work/registry.yml" > "$work/registry.log" 2>&1 &
registry_pid=$!
trap 'kill $registry_pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done

export KUBECTL_ORAS_REGISTRY="127.0.0.1:$port" KUBECTL_ORAS_PLAIN_HTTP=1
step() { echo; echo "== $*"; }

step "step 1 (simulate): writes a results directory and a metrics file, pushes them"
mkdir -p "$work/step1/results" && cd "$work/step1"
for i in 1 2 3; do seq 1 $((i * 1000)) > "results/run-$i.txt"; done
echo '{"runs": 3, "seconds": 4.2}' > metrics.json
kubectl-oras push experiment/simulate:iter-0 results metrics.json -a iteration=0

step "step 2 (analyse): pulls step 1's output, summarises it, pushes the summary"
mkdir -p "$work/step2" && cd "$work/step2"
kubectl-oras pull experiment/simulate:iter-0 -o inputs
wc -l inputs/results/*.txt | tail -1 | awk '{print "total lines:", $1}' > summary.txt
cat inputs/metrics.json >> summary.txt
kubectl-oras push experiment/analyse:iter-0 summary.txt

step "you: list what the workflow stored, and pull the result"
kubectl-oras ls
kubectl-oras tags experiment/analyse
cd "$work" && kubectl-oras pull experiment/analyse:iter-0 -o result
echo; echo "result/summary.txt:"; cat result/summary.txt
