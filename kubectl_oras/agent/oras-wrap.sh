# kubectl-oras step wrapper (POSIX sh; run by the busybox the oras-pull container installed).
# Runs the step's own argv ("$@", exactly as written in the pod spec) between the cache's pull
# and push, and exits with the step's code, or non-zero when its outputs could not be stored.
# Protocol: docs/pod-protocol.md. Every marker lives in a run directory of this run's own, so a
# restarted container never sees an earlier run's markers. Every path and name comes from the
# environment the injection sets (kubectl_oras/pods/step.py: wrapper_environment), where the
# share's layout is defined once.
set -u
bb="$KUBECTL_ORAS_SHARE_BUSYBOX"
runs="$KUBECTL_ORAS_SHARE_RUNS"
inputs="$KUBECTL_ORAS_SHARE_INPUTS"
note() { [ "${KUBECTL_ORAS_DEBUG:-0}" = 1 ] && echo "kubectl-oras: $*" >&2; return 0; }
fail() { echo "kubectl-oras: $*" >&2; }

n=1
# 0777: the sidecar, which may run as another user, writes its verdict here.
while ! "$bb" mkdir -m 0777 "$runs/$n" 2>/dev/null; do
  n=$((n + 1))
  [ "$n" -gt 10000 ] && { fail "cannot create a run directory in $runs"; exit 1; }
done
run="$runs/$n"
done_file="$run/$KUBECTL_ORAS_RUN_DONE"
verdict_file="$run/$KUBECTL_ORAS_RUN_VERDICT"
wake="$run/$KUBECTL_ORAS_RUN_WAKE"
outputs="$run/$KUBECTL_ORAS_RUN_OUTPUTS"
stdout="$run/$KUBECTL_ORAS_RUN_STDOUT"
note "run $n"

dest="${KUBECTL_ORAS_INPUT_PATH:-}"
[ -n "$dest" ] || dest="$PWD"
# cp -R, not -a: the launcher may run as another user than the one that pulled, and preserving
# ownership would only print warnings into the step's log. Modes and links are kept.
if [ -n "$("$bb" ls -A "$inputs" 2>/dev/null)" ]; then
  "$bb" mkdir -p "$dest" && "$bb" cp -R "$inputs/." "$dest/" || { fail "cannot copy inputs into $dest"; exit 1; }
  note "inputs copied into $dest"
fi

child=""
terminated=0
forward() { terminated=1; [ -n "$child" ] && kill -TERM "$child" 2>/dev/null; }
trap forward TERM INT
if [ -n "${KUBECTL_ORAS_OUTPUT_PIPE:-}" ]; then
  "$bb" mkfifo "$stdout"
  "$bb" tee "$KUBECTL_ORAS_OUTPUT_PIPE" < "$stdout" &
  tee_pid=$!
  "$@" <&0 > "$stdout" &
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
  "$bb" mkdir -p "$outputs"
  for path in "${KUBECTL_ORAS_OUTPUT_PATH:-}" "${KUBECTL_ORAS_OUTPUT_PIPE:-}"; do
    [ -n "$path" ] || continue
    name="$("$bb" basename "$path")"
    [ -e "$outputs/$name" ] && continue
    if [ -e "$path" ]; then
      "$bb" cp -R "$path" "$outputs/$name" || { fail "cannot copy output $path"; [ "$code" = 0 ] && code=1; }
    elif [ "$code" = 0 ]; then
      fail "output $path does not exist after the step; failing it so nothing is lost silently"
      code=1
    fi
  done
  # The sidecar runs as another user: whatever the step's umask, it must be able to read the copies.
  "$bb" chmod -R a+rX "$outputs" || { fail "cannot make the outputs readable to the agent"; [ "$code" = 0 ] && code=1; }
fi
# The sidecar pokes the fifo when the verdict is written: we sleep in `read` (a shell builtin: no
# process per poll) and wake at once; the 1 s timeout re-checks in case a restarted sidecar
# wrote the verdict without poking. Held open read-write, the fifo never blocks either side.
"$bb" mkfifo -m 0666 "$wake" && exec 3<>"$wake"
echo "$code" > "$done_file.tmp" && "$bb" chmod 0644 "$done_file.tmp" && "$bb" mv "$done_file.tmp" "$done_file"

if [ "${KUBECTL_ORAS_PUSH:-0}" = 1 ]; then
  while [ ! -e "$verdict_file" ] && [ "$terminated" = 0 ]; do read -t 1 _ <&3; done
fi
if [ "${KUBECTL_ORAS_PUSH:-0}" = 1 ] && [ ! -e "$verdict_file" ]; then
  fail "stopped by a signal: not waiting for the push"
  [ "$code" = 0 ] && code=143  # outputs not known to be stored: never report success
elif [ "${KUBECTL_ORAS_PUSH:-0}" = 1 ]; then
  verdict="$("$bb" cat "$verdict_file")"
  note "verdict: $verdict"
  case "$verdict" in
    pushed*|not-pushed*) ;;
    *) fail "$verdict"; [ "$code" = 0 ] && code=1 ;;
  esac
fi
exit "$code"
