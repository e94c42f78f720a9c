# kubectl-oras step wrapper (POSIX sh; run by the busybox the oras-pull container installed).
# Runs the step's own argv ("$@", exactly as written in the pod spec) between the cache's pull
# and push, and exits with the step's code, or non-zero when its outputs could not be stored.
# Protocol: docs/pod-protocol.md. Every marker lives in a run directory of this run's own, so a
# restarted container never sees an earlier run's markers.
set -u
share="$KUBECTL_ORAS_SHARE"
bb="$share/bin/busybox"
note() { [ "${KUBECTL_ORAS_DEBUG:-0}" = 1 ] && echo "kubectl-oras: $*" >&2; return 0; }
fail() { echo "kubectl-oras: $*" >&2; }

n=1
# 0777: the sidecar, which may run as another user, writes its verdict here.
while ! "$bb" mkdir -m 0777 "$share/runs/$n" 2>/dev/null; do
  n=$((n + 1))
  [ "$n" -gt 10000 ] && { fail "cannot create a run directory in $share/runs"; exit 1; }
done
run="$share/runs/$n"
note "run $n"

dest="${KUBECTL_ORAS_INPUT_PATH:-}"
[ -n "$dest" ] || dest="$PWD"
# cp -R, not -a: the launcher may run as another user than the one that pulled, and preserving
# ownership would only print warnings into the step's log. Modes and links are kept.
if [ -n "$("$bb" ls -A "$share/inputs" 2>/dev/null)" ]; then
  "$bb" mkdir -p "$dest" && "$bb" cp -R "$share/inputs/." "$dest/" || { fail "cannot copy inputs into $dest"; exit 1; }
  note "inputs copied into $dest"
fi

child=""
terminated=0
forward() { terminated=1; [ -n "$child" ] && kill -TERM "$child" 2>/dev/null; }
trap forward TERM INT
if [ -n "${KUBECTL_ORAS_OUTPUT_PIPE:-}" ]; then
  "$bb" mkfifo "$run/stdout"
  "$bb" tee "$KUBECTL_ORAS_OUTPUT_PIPE" < "$run/stdout" &
  tee_pid=$!
  "$@" <&0 > "$run/stdout" &
  child=$!
else
  tee_pid=""
  "$@" <&0 &
  child=$!
fi
while :; do
  wait "$child"
  code=$?
  kill -0 "$child" 2>/dev/null || break  # wait was only interrupted by a signal we forwarded
done
[ -n "$tee_pid" ] && wait "$tee_pid"
note "step exited with $code"

if [ "${KUBECTL_ORAS_PUSH:-0}" = 1 ]; then
  "$bb" mkdir -p "$run/outputs"
  for path in "${KUBECTL_ORAS_OUTPUT_PATH:-}" "${KUBECTL_ORAS_OUTPUT_PIPE:-}"; do
    [ -n "$path" ] || continue
    name="$("$bb" basename "$path")"
    [ -e "$run/outputs/$name" ] && continue
    if [ -e "$path" ]; then
      "$bb" cp -R "$path" "$run/outputs/$name" || { fail "cannot copy output $path"; [ "$code" = 0 ] && code=1; }
    elif [ "$code" = 0 ]; then
      fail "output $path does not exist after the step; failing it so nothing is lost silently"
      code=1
    fi
  done
fi
# The sidecar pokes the fifo when the verdict is written: we sleep in `read` (a shell builtin: no
# process per poll) and wake at once; the 1 s timeout re-checks in case a restarted sidecar
# wrote the verdict without poking. Held open read-write, the fifo never blocks either side.
"$bb" mkfifo -m 0666 "$run/wake" && exec 3<>"$run/wake"
echo "$code" > "$run/done.tmp" && "$bb" mv "$run/done.tmp" "$run/done"

if [ "${KUBECTL_ORAS_PUSH:-0}" = 1 ]; then
  while [ ! -e "$run/verdict" ] && [ "$terminated" = 0 ]; do read -t 1 _ <&3; done
fi
if [ "${KUBECTL_ORAS_PUSH:-0}" = 1 ] && [ ! -e "$run/verdict" ]; then
  fail "stopped by a signal: not waiting for the push"
  [ "$code" = 0 ] && code=143  # outputs not known to be stored: never report success
elif [ "${KUBECTL_ORAS_PUSH:-0}" = 1 ]; then
  verdict="$("$bb" cat "$run/verdict")"
  note "verdict: $verdict"
  case "$verdict" in
    pushed*|not-pushed*) ;;
    *) fail "$verdict"; [ "$code" = 0 ] && code=1 ;;
  esac
fi
exit "$code"
