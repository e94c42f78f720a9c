#!/usr/bin/env bash
# The main job's experiment steps as plain Job manifests, unannotated: scripts/demo.sh annotates
# them; bench/main_job.py runs them as they are for its baseline.
#   bash scripts/demo-jobs.sh hwloc|lammps
set -euo pipefail
job() {  # a Job of one busybox step: job NAME SCRIPT (busybox is preloaded: IfNotPresent, not Always)
  cat <<YAML
apiVersion: batch/v1
kind: Job
metadata: {name: $1}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: $1
        image: busybox
        imagePullPolicy: IfNotPresent
        command: [sh, -c]
        args:
        - |
$(printf '%s\n' "${2#$'\n'}" | sed 's/^/          /')
YAML
}
case "${1:-}" in
  hwloc) job hwloc '
mkdir -p /tmp/analysis/cpu
grep -c ^processor /proc/cpuinfo > /tmp/analysis/cpu/count.txt
grep -m1 "model name" /proc/cpuinfo > /tmp/analysis/cpu/model.txt || echo unknown > /tmp/analysis/cpu/model.txt
head -3 /proc/meminfo > /tmp/analysis/memory.txt
hostname > /tmp/analysis/node.txt
echo "hwloc: topology written to /tmp/analysis"' ;;
  lammps) job lammps '
echo "LAMMPS (simulated): reaxc benchmark, 2 x 2 x 2"
for step in 0 10 20 30 40 50; do echo "Step $step Temp $((300 + step)) E_pair -$((800 + step * 2))"; done
echo "Total wall time: 0:00:01"' ;;
  *) echo "usage: demo-jobs.sh hwloc|lammps" >&2; exit 2 ;;
esac
