# kubectl-oras step wrapper (POSIX sh; run by the busybox the pull installed in the share).
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
failed() { [ "$code" = 0 ] && code=1; return 0; }  # the step succeeded, but something of ours did not

# The paths the user gave; one that starts with '-' gets './', so that no tool reads it as an option.
input_path="${KUBECTL_ORAS_INPUT_PATH:-}"
output_path="${KUBECTL_ORAS_OUTPUT_PATH:-}"
output_pipe="${KUBECTL_ORAS_OUTPUT_PIPE:-}"
case "$input_path" in -*) input_path="./$input_path" ;; esac
case "$output_path" in -*) output_path="./$output_path" ;; esac
case "$output_pipe" in -*) output_pipe="./$output_pipe" ;; esac

# Why the container failed, for its status (kubectl describe; `kubectl get pod -o yaml`); never
# over a message the step wrote itself, and never into anything but a file.
termination_message() {
  t="${KUBECTL_ORAS_TERMINATION_LOG:-/dev/termination-log}"
  [ -p "$t" ] || [ -d "$t" ] || [ -s "$t" ] || printf '%s\n' "$1" 2>/dev/null > "$t"
  return 0
}

n=1
# 0777: the sidecar, which may run as another user, writes its verdict here. Only a number taken
# by an earlier run is skipped; any other refusal (a full disk, say) ends here, saying so.
while ! "$bb" mkdir -m 0777 "$runs/$n" 2>/dev/null; do
  if { [ ! -e "$runs/$n" ] && [ ! -L "$runs/$n" ]; } || [ "$n" -ge 10000 ]; then
    fail "cannot create a run directory in $runs; the step was not run"
    termination_message "kubectl-oras: cannot create a run directory in $runs"
    exit 1
  fi
  n=$((n + 1))
done
run="$runs/$n"
done_file="$run/$KUBECTL_ORAS_RUN_DONE"
verdict_file="$run/$KUBECTL_ORAS_RUN_VERDICT"
wake="$run/$KUBECTL_ORAS_RUN_WAKE"
outputs="$run/$KUBECTL_ORAS_RUN_OUTPUTS"
stdout="$run/$KUBECTL_ORAS_RUN_STDOUT"
seen="$run/${KUBECTL_ORAS_RUN_SEEN:-seen}"  # a default: a pod spec from before this marker still runs
note "run $n"

# When the sidecar pulls the inputs (a launcher that runs once), its answer comes first: the
# wrapper waits for it, and after a failed pull runs nothing; the reason goes to the step's log.
pull_verdict="${KUBECTL_ORAS_PULL_VERDICT:-}"
if [ -n "$pull_verdict" ]; then
  trap 'exit 143' TERM INT  # the pod is going away: nothing has run, nothing to report
  pull_wake="${KUBECTL_ORAS_PULL_WAKE:-}"
  # The sidecar writes a line into the fifo once the answer is there: `read` sleeps in the shell
  # (no process per look) and wakes at once; held open read-write, it never blocks either side.
  # A line that says the pull failed is an answer too: the sidecar sends it when the share
  # refuses the answer's file (a full disk). Only a failure is taken from the fifo, which anyone
  # in the pod may write; success only from the file, in the agent's own directory.
  fifo=0
  [ -n "$pull_wake" ] && [ -p "$pull_wake" ] && [ ! -L "$pull_wake" ] && exec 4<>"$pull_wake" && fifo=1
  pulled="" tenths=0 said=0
  while [ -z "$pulled" ] && [ ! -e "$pull_verdict" ] && [ ! -L "$pull_verdict" ]; do
    if [ "$fifo" = 1 ]; then
      if read -t 1 line <&4; then
        case "$line" in pull-failed:*) pulled="$line" ;; esac
        continue
      fi
      tenths=$((tenths + 10))
    else
      "$bb" sleep 0.1
      tenths=$((tenths + 1))
    fi
    if [ "$tenths" -ge 50 ] && [ "$said" = 0 ]; then
      fail "waiting for the inputs to be pulled (kubectl logs POD -c oras-push)"; said=1
    fi
  done
  [ "$fifo" = 1 ] && exec 4<&-
  if [ -z "$pulled" ]; then
    if [ -f "$pull_verdict" ]; then
      pulled="$("$bb" head -c 4096 "$pull_verdict")"
    else
      pulled="pull-failed: $pull_verdict is not a file the sidecar wrote"
    fi
  fi
  case "$pulled" in
    pulled) note "inputs pulled" ;;
    *)
      fail "$pulled; the step was not run (kubectl logs POD -c oras-push has the pull's log)"
      termination_message "$pulled"
      : > "$seen" 2>/dev/null  # a sidecar that ends after the launcher's one run waits for it
      exit 1 ;;
  esac
  trap - TERM INT
fi

dest="$input_path"
[ -n "$dest" ] || dest="$PWD"
# Prints each path (relative to input-path) where copying an input would replace something that
# differs from it: a file of other content, a link elsewhere, a file where the input has a
# directory or the reverse. Equal files (a restarted launcher's earlier copy) are not replacements.
replacements='bb=$1 src=$2 dst=$3; shift 3
for f; do
  rel="${f#"$src"/}"
  t="$dst/$rel"
  [ -e "$t" ] || [ -L "$t" ] || continue
  if [ -L "$f" ]; then
    [ -L "$t" ] && [ "$("$bb" readlink "$f")" = "$("$bb" readlink "$t")" ] && continue
  elif [ -d "$f" ]; then
    [ -d "$t" ] && [ ! -L "$t" ] && continue
  elif [ -f "$t" ] && [ ! -L "$t" ] && "$bb" cmp -s "$f" "$t"; then
    continue
  fi
  echo "$rel"
done'
# cp -R, not -a: the launcher may run as another user than the one that pulled, and preserving
# ownership would only print warnings into the step's log. Modes and links are kept.
if [ -n "$("$bb" ls -A "$inputs" 2>/dev/null)" ]; then
  "$bb" mkdir -p "$dest" || { fail "cannot create input-path $dest"; exit 1; }
  replaced="$("$bb" find "$inputs" -mindepth 1 -exec "$bb" sh -c "$replacements" sh "$bb" "$inputs" "$dest" {} +)"
  if [ -n "$replaced" ] && [ "${KUBECTL_ORAS_INPUT_OVERWRITE:-0}" != 1 ]; then
    list=""
    while IFS= read -r r; do list="${list:+$list, }$r"; done <<EOF
$replaced
EOF
    fail "inputs would replace files in $dest that differ from them: $list; the step was not run" \
         "(set annotation input-overwrite: \"true\" to allow it, or give the inputs an input-path of their own)"
    exit 1
  fi
  "$bb" cp -R "$inputs/." "$dest/" || { fail "cannot copy inputs into $dest"; exit 1; }
  if [ -n "$replaced" ]; then
    while IFS= read -r r; do fail "an input replaced $r in $dest (input-overwrite)"; done <<EOF
$replaced
EOF
  fi
  note "inputs copied into $dest"
fi

child=""
terminated=0
# Forwarded only while the step runs: once waited for, its pid may belong to another process.
forward() { terminated=1; [ -n "$child" ] && kill -TERM "$child" 2>/dev/null; return 0; }
trap forward TERM INT
if [ -n "$output_pipe" ]; then
  "$bb" mkfifo "$stdout"
  "$bb" tee "$output_pipe" < "$stdout" &
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
child=""
# tee ends when every writer of the fifo has closed it, and a process the step left running may
# hold it open for ever: tee gets a grace to drain, then is stopped; what it wrote is pushed.
# (No race on its pid: ash reaps a child only inside a wait or a foreground command, so a pid
# that answers kill -0 here is still tee's.)
if [ -n "$tee_pid" ]; then
  grace=20  # tenths of a second
  while [ "$grace" -gt 0 ] && kill -0 "$tee_pid" 2>/dev/null; do "$bb" sleep 0.1; grace=$((grace - 1)); done
  if kill -0 "$tee_pid" 2>/dev/null; then
    kill -TERM "$tee_pid" 2>/dev/null
    fail "the step's stdout was still held open 2 s after it exited (by a process it left running);" \
         "output-pipe $output_pipe holds what was written until then"
  fi
  wait "$tee_pid"
fi
note "step exited with $code"
# Stopped by a signal (the pod is going away): the outputs may be cut short (a log whose tee was
# interrupted), so success is never reported, and nothing partial is pushed to the tag.
[ "$terminated" = 1 ] && [ "$code" = 0 ] && code=143

# Every declared output is copied under its own name (docs/outputs.md), or the step fails naming
# it: nothing is lost silently. The copy is made here, in the step's filesystem: a link given as
# the output is followed here (-H), never by the sidecar; links inside a directory stay links.
if [ "${KUBECTL_ORAS_PUSH:-0}" = 1 ]; then
  "$bb" mkdir -p "$outputs"
  first="" first_key="" first_name=""
  for key in output-path output-pipe; do
    if [ "$key" = output-path ]; then path="$output_path"; else path="$output_pipe"; fi
    [ -n "$path" ] || continue
    if [ ! -e "$path" ]; then
      if [ -L "$path" ]; then
        fail "output $path ($key) is a symbolic link to $("$bb" readlink "$path"), which does not exist"; failed
      elif [ "$code" = 0 ]; then
        fail "output $path does not exist after the step ($key); failing it so nothing is lost silently"; failed
      fi
      continue
    fi
    [ -n "$first" ] && [ "$path" -ef "$first" ] && continue  # one file declared twice: pushed once
    name="$("$bb" basename "$path")"
    case "$name" in .|..) name="$(cd -P "$path" && "$bb" basename "$PWD")" ;; esac  # a directory, by its own (physical) name, as cp -H copies it
    if [ "$name" = / ]; then
      fail "output $path ($key) is the root directory, which has no name to push it under"; failed; continue
    fi
    if [ -n "$first" ] && [ "$name" = "$first_name" ]; then
      fail "outputs $first ($first_key) and $path ($key) would both be pushed as $name; give them different names"
      failed; continue
    fi
    "$bb" cp -R -H "$path" "$outputs/$name" || { fail "cannot copy output $path ($key)"; failed; }
    first="$path" first_key="$key" first_name="$name"
  done
  # The sidecar runs as another user: whatever the step's umask, it must be able to read the copies.
  "$bb" chmod -R a+rX "$outputs" || { fail "cannot make the outputs readable to the agent"; failed; }
fi
# The sidecar pokes the fifo when the verdict is written: we sleep in `read` (a shell builtin: no
# process per poll) and wake at once; the 1 s timeout re-checks in case a restarted sidecar
# wrote the verdict without poking. Held open read-write, the fifo never blocks either side.
"$bb" mkfifo -m 0666 "$wake" && exec 3<>"$wake"
[ "$terminated" = 1 ] && [ "$code" = 0 ] && code=143  # a signal during the copies
echo "$code" > "$done_file.tmp" && "$bb" chmod 0644 "$done_file.tmp" && "$bb" mv "$done_file.tmp" "$done_file"

# A signal after `done` (the pod deleted once the step had finished on its own) does not stop
# the wait: the kubelet stops the sidecar only after this container has ended, so the push goes
# on, and what it stores is the step's whole output. Exiting now would fail a step whose tag
# then appears; waiting, the exit says what the registry holds. The kubelet's SIGKILL at the end
# of the grace period bounds the wait; the sidecar, stopped after it, then tags nothing.
stopped_before_done="$terminated"
if [ "${KUBECTL_ORAS_PUSH:-0}" = 1 ] && [ "$stopped_before_done" = 0 ]; then
  said=0
  while [ ! -e "$verdict_file" ]; do
    read -t 1 _ <&3
    if [ "$terminated" = 1 ] && [ "$said" = 0 ]; then
      fail "stopped by a signal after the step finished: waiting for its push to end (the sidecar is stopped after this container)"
      said=1
    fi
  done
fi
if [ "${KUBECTL_ORAS_PUSH:-0}" = 1 ] && [ ! -e "$verdict_file" ]; then
  fail "stopped by a signal before the step finished: not waiting for the push"
  [ "$code" = 0 ] && code=143  # outputs not known to be stored: never report success
elif [ "${KUBECTL_ORAS_PUSH:-0}" = 1 ]; then
  verdict="$("$bb" cat "$verdict_file")"
  : > "$seen" 2>/dev/null  # a sidecar that ends after this run waits for it
  note "verdict: $verdict"
  case "$verdict" in
    pushed*|not-pushed*) ;;
    *) fail "$verdict"; termination_message "$verdict"; [ "$code" = 0 ] && code=1 ;;
  esac
fi
exit "$code"
