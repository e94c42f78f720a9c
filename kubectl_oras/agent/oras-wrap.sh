# kubectl-oras step wrapper (POSIX sh; run by the busybox the pull installed in the share).
# Runs the step's own argv ("$@", exactly as written in the pod spec) between the cache's pull
# and push, and exits with the step's code, or the agent's own code when the inputs could not be
# pulled or the outputs stored (KUBECTL_ORAS_EXIT_*).
# Protocol: docs/pod-protocol.md. Every marker lives in a run directory of this run's own, so a
# restarted container never sees an earlier run's markers. Every path and name, and every word
# the sidecar's answers begin with, comes from the environment the injection sets
# (kubectl_oras/pods/step.py: wrapper_environment); the share's layout and those words are
# defined once, in kubectl_oras/pods/share.py.
set -u
bb="$KUBECTL_ORAS_SHARE_BUSYBOX"
runs="$KUBECTL_ORAS_SHARE_RUNS"
inputs="$KUBECTL_ORAS_SHARE_INPUTS"
note() { [ "${KUBECTL_ORAS_DEBUG:-0}" = 1 ] && echo "kubectl-oras: $*" >&2; return 0; }
fail() { echo "kubectl-oras: $*" >&2; }

# A launcher without a command whose image is an index of platforms that run different argvs: the
# injection gave the wrapper a line per platform, "os/arch[/variant] words..." (the image's words,
# shell-quoted), and as its argv only the pod's own args, which follow them; this node's line is
# taken, its machine named as Go names architectures.
if [ -n "${KUBECTL_ORAS_PLATFORM_ARGV:-}" ]; then
  machine="$("$bb" uname -m)"
  variant=""
  case "$machine" in
    x86_64|amd64) arch=amd64 ;;
    aarch64|arm64) arch=arm64 variant=v8 ;;
    armv8*) arch=arm64 variant=v8 ;;
    armv7*) arch=arm variant=v7 ;;
    armv6*) arch=arm variant=v6 ;;
    armv5*) arch=arm variant=v5 ;;
    i?86) arch=386 ;;
    *) arch="$machine" ;;  # ppc64le, s390x, riscv64, loong64: the same word in both
  esac
  case "$arch/$variant" in  # what containerd runs here when the index has no image of the node's own
    arm64/v8) older="linux/arm/v8 linux/arm/v7 linux/arm/v6 linux/arm/v5" ;;
    arm/v7) older="linux/arm/v6 linux/arm/v5" ;;
    arm/v6) older="linux/arm/v5" ;;
    amd64/) older="linux/386" ;;
    *) older="" ;;
  esac
  words=""
  # arm64's v8 is also written without a variant; $older is split into its words on purpose
  for want in "linux/$arch/$variant" "linux/$arch" $older; do
    while IFS= read -r line; do
      [ "${line%% *}" = "$want" ] && { words="${line#* }"; break; }
    done <<PLATFORMS
$KUBECTL_ORAS_PLATFORM_ARGV
PLATFORMS
    [ -n "$words" ] && break
  done
  if [ -z "$words" ]; then
    fail "the image has no command for this node's platform, linux/$arch${variant:+/$variant} ($machine); the step was not run"
    exit 1
  fi
  argv_nl='
'  # a newline in a word is written as $argv_nl outside its quotes
  eval "set -- $words \"\$@\""
fi
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

# The words the sidecar's answers begin with. A pod spec that does not give them (made by an
# older injection than this wrapper's image) cannot have its answers read: its step is not run.
w_pulled="${KUBECTL_ORAS_VERDICT_PULLED:-}"
w_pull_failed="${KUBECTL_ORAS_VERDICT_PULL_FAILED:-}"
w_pushed="${KUBECTL_ORAS_VERDICT_PUSHED:-}"
w_not_pushed="${KUBECTL_ORAS_VERDICT_NOT_PUSHED:-}"
w_push_failed="${KUBECTL_ORAS_VERDICT_PUSH_FAILED:-}"
if [ -n "${KUBECTL_ORAS_PULL_VERDICT:-}" ] || [ "${KUBECTL_ORAS_PUSH:-0}" = 1 ]; then
  for w in "$w_pulled" "$w_pull_failed" "$w_pushed" "$w_not_pushed" "$w_push_failed"; do
    [ -n "$w" ] && continue
    fail "the pod's spec does not give this wrapper the words of the sidecar's answers" \
         "(KUBECTL_ORAS_VERDICT_*: it was injected by an older kubectl-oras than its image); the step was not run"
    termination_message "kubectl-oras: the pod's spec lacks KUBECTL_ORAS_VERDICT_*: injected by an older kubectl-oras"
    exit 1
  done
fi

# The exit codes that say the agent, not the step, failed the run (share.py: a Job's
# podFailurePolicy tells them apart); a pod spec from before them gets 1, as it did.
exit_pull_failed="${KUBECTL_ORAS_EXIT_PULL_FAILED:-1}"
exit_push_failed="${KUBECTL_ORAS_EXIT_PUSH_FAILED:-1}"
case "$exit_pull_failed" in ''|*[!0-9]*) exit_pull_failed=1 ;; esac
case "$exit_push_failed" in ''|*[!0-9]*) exit_push_failed=1 ;; esac

# A bound on a wait, in whole seconds, as the environment gives it: one that is not a number is the
# default (6 h), leading zeros go, and more digits than the shell's numbers hold (which made a
# comparison fail, and the wait end at once) are 999999999.
bound() {
  b="$1"
  case "$b" in ''|*[!0-9]*) b=21600 ;; esac
  b="${b#"${b%%[!0]*}"}"  # leading zeros off (all zeros: none left)
  [ "${#b}" -le 9 ] || b=999999999
  echo "${b:-0}"
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

# When the sidecar pulls the inputs, its answer comes first: the wrapper waits for it, and after
# a failed pull runs nothing; the reason goes to the step's log.
pull_verdict="${KUBECTL_ORAS_PULL_VERDICT:-}"
if [ -n "$pull_verdict" ]; then
  trap 'exit 143' TERM INT  # the pod is going away: nothing has run, nothing to report
  pull_wake="${KUBECTL_ORAS_PULL_WAKE:-}"
  # A launcher started again (restartPolicy OnFailure, Always) may find a failure the sidecar gave
  # an earlier run: that is not its answer. It asks for the pull again (pull-again in its run
  # directory) and waits for an answer naming its run on the answer's second line (the pod's
  # first pull names none: it answers run 1). "pulled" answers every run.
  pull_again="${KUBECTL_ORAS_RUN_PULL_AGAIN:+$run/$KUBECTL_ORAS_RUN_PULL_AGAIN}"
  take_answer() {
    [ -e "$pull_verdict" ] || [ -L "$pull_verdict" ] || return 1
    if [ ! -f "$pull_verdict" ]; then
      answer="$w_pull_failed: $pull_verdict is not a file the sidecar wrote"; return 0
    fi
    given="" for_run=""
    { IFS= read -r given; IFS= read -r for_run; } 2>/dev/null < "$pull_verdict"
    if [ "$given" = "$w_pulled" ] || [ -z "$pull_again" ] || [ "${for_run:-1}" = "$n" ]; then
      answer="${given:-$w_pull_failed: $pull_verdict is empty}"; return 0
    fi
    if [ ! -e "$pull_again" ]; then
      : > "$pull_again"
      fail "the inputs' pull failed for run ${for_run:-1}; asking the sidecar to pull them again (kubectl logs POD -c oras-push)"
    fi
    return 1
  }
  # The sidecar writes a line into the fifo once the answer is there: `read` sleeps in the shell
  # (no process per look) and wakes at once; held open read-write, it never blocks either side.
  # A line that says the pull failed is an answer too: the sidecar sends it when the share
  # refuses the answer's file (a full disk). Only a failure is taken from the fifo, which anyone
  # in the pod may write; success only from the file, in the agent's own directory.
  fifo=0
  [ -n "$pull_wake" ] && [ -p "$pull_wake" ] && [ ! -L "$pull_wake" ] && exec 4<>"$pull_wake" && fifo=1
  # The wait is bounded as the verdict's is (KUBECTL_ORAS_PULL_WAIT seconds: the step's timeout and
  # a margin, or a default and the input-wait; pods/step.py: pull_wait): a sidecar that dies on
  # every start before it even records the pull's start would otherwise hold the step for ever.
  pull_wait="$(bound "${KUBECTL_ORAS_PULL_WAIT:-21600}")"  # the default: a pod spec from before this bound
  answer="" tenths=0 said=0
  while [ -z "$answer" ] && ! take_answer; do
    if [ "$tenths" -ge $((pull_wait * 10)) ]; then
      answer="$w_pull_failed: the sidecar (oras-push) gave no answer to the inputs' pull within $pull_wait s (kubectl describe pod: its last state)"
      break
    fi
    if [ "$fifo" = 1 ]; then
      if read -t 1 line <&4; then
        case "$line" in "$w_pull_failed":*) answer="$line" ;; esac
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
  case "$answer" in
    "$w_pulled") note "inputs pulled" ;;
    *)
      fail "$answer; the step was not run (kubectl logs POD -c oras-push has the pull's log)"
      termination_message "$answer"
      : > "$seen" 2>/dev/null  # a sidecar that ends after the launcher's one run waits for it
      exit "$exit_pull_failed" ;;
  esac
  trap - TERM INT
fi

dest="$input_path"
[ -n "$dest" ] || dest="$PWD"
share="${KUBECTL_ORAS_SHARE:-${runs%/*}}"  # a default: a pod spec from before this variable still runs
# Nothing pulled may land in the share, where the agent and the wrapper answer each other (a
# `verdict` there would speak for the sidecar). With input-path / (or a working directory /, as
# in busybox's image), the share is oras/ below it: such an input is refused, and the step not run.
refuse_input() {
  fail "$1; the step was not run (nothing pulled may land in the share, which holds the agent's" \
       "answers: give the inputs an input-path of their own)"
  termination_message "kubectl-oras: $1"
  exit 1
}
# Prints each path (relative to input-path) that copying an input would place in the share ("S "),
# and each where it would replace something that differs from it ("R "): a file of other content,
# a link elsewhere, a file where the input has a directory or the reverse. Equal files (a restarted
# launcher's earlier copy) are not replacements. The share is found physically: its own place
# below input-path, and any link already there on the way (cp writes a file through one).
placement='bb=$1 src=$2 dst=$3 pshare=$4 below=$5; shift 5
said=""  # the last path said to land in the share: what lies under it is not said again
for f; do
  rel="${f#"$src"/}"
  t="$dst/$rel"
  [ -n "$said" ] && case "$rel" in "$said"/*) continue ;; esac
  if [ -n "$below" ]; then
    case "$rel" in "$below"|"$below"/*) echo "S $rel"; said="$rel"; continue ;; esac
  fi
  if [ -L "$t" ]; then
    case "$("$bb" readlink -f "$t")" in "$pshare"|"$pshare"/*) echo "S $rel"; said="$rel"; continue ;; esac
  fi
  [ -e "$t" ] || [ -L "$t" ] || continue
  if [ -L "$f" ]; then
    [ -L "$t" ] && [ "$("$bb" readlink "$f")" = "$("$bb" readlink "$t")" ] && continue
  elif [ -d "$f" ]; then
    [ -d "$t" ] && [ ! -L "$t" ] && continue
  elif [ -f "$t" ] && [ ! -L "$t" ] && "$bb" cmp -s "$f" "$t"; then
    continue
  fi
  echo "R $rel"
done'
listed() {  # the paths of one kind ("S " or "R ") in $placed, comma-separated
  list=""
  while IFS= read -r r; do
    case "$r" in "$1"*) list="${list:+$list, }${r#"$1"}" ;; esac
  done <<PLACED
$placed
PLACED
  printf '%s' "$list"
}
# cp -R, not -a: the launcher may run as another user than the one that pulled, and preserving
# ownership would only print warnings into the step's log. Modes and links are kept.
if [ -n "$("$bb" ls -A "$inputs" 2>/dev/null)" ]; then
  "$bb" mkdir -p "$dest" || { fail "cannot create input-path $dest"; exit 1; }
  pshare="$(cd -P "$share" 2>/dev/null && pwd)" || pshare="$share"
  pdest="$(cd -P "$dest" && pwd)" || { fail "cannot enter input-path $dest"; exit 1; }
  case "$pdest" in
    "$pshare"|"$pshare"/*) refuse_input "input-path $dest is in the share ($pshare)" ;;
  esac
  below=""
  case "$pshare" in
    "$pdest"/*) below="${pshare#"$pdest"/}" ;;
    /*) [ "$pdest" = / ] && below="${pshare#/}" ;;
  esac
  placed="$("$bb" find "$inputs" -mindepth 1 -exec "$bb" sh -c "$placement" sh "$bb" "$inputs" "$dest" "$pshare" "$below" {} +)"
  into_share="$(listed "S ")"
  [ -z "$into_share" ] || refuse_input "inputs would land in the share ($pshare) below input-path $dest: $into_share"
  replaced="$(listed "R ")"
  if [ -n "$replaced" ] && [ "${KUBECTL_ORAS_INPUT_OVERWRITE:-0}" != 1 ]; then
    fail "inputs would replace files in $dest that differ from them: $replaced; the step was not run" \
         "(set annotation input-overwrite: \"true\" to allow it, or give the inputs an input-path of their own)"
    exit 1
  fi
  "$bb" cp -R "$inputs/." "$dest/" || { fail "cannot copy inputs into $dest"; exit 1; }
  if [ -n "$replaced" ]; then
    while IFS= read -r r; do
      case "$r" in "R "*) fail "an input replaced ${r#R } in $dest (input-overwrite)" ;; esac
    done <<PLACED
$placed
PLACED
  fi
  note "inputs copied into $dest"
fi

child=""
terminated=0
# Forwarded only while the step runs: once waited for, its pid may belong to another process.
forward() { terminated=1; [ -n "$child" ] && kill -TERM "$child" 2>/dev/null; return 0; }
trap forward TERM INT
# When the step started, for its outputs' provenance (a pod spec from before it records none).
[ -n "${KUBECTL_ORAS_RUN_STARTED:-}" ] && "$bb" date -u +%Y-%m-%dT%H:%M:%SZ 2>/dev/null > "$run/$KUBECTL_ORAS_RUN_STARTED"
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
  # Only the copies below are pushed: whatever the step put at outputs/ (an earlier pod's share it
  # unpacked, say) would be pushed beside them, and a directory there would take a copy into it.
  "$bb" rm -rf "$outputs"
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
wake_open=0
"$bb" mkfifo -m 0666 "$wake" && exec 3<>"$wake" && wake_open=1
# Whether a signal came before the run's code is settled (during the copies, say), read once: the
# code `done` will hold and whether the wrapper waits for the push both follow from it. One that
# comes later, while done is still being written, comes after the step finished: done says the
# step's code, so the sidecar pushes, and the wrapper waits for it (below).
stopped_before_done="$terminated"
[ "$stopped_before_done" = 1 ] && [ "$code" = 0 ] && code=143
# The run's token, made only now that the step has ended, goes to the sidecar in `done`, and its
# verdict must give it back: a verdict without it is not the sidecar's answer to this run (an
# input or the step put it there, before the token existed), and is not taken (docs/pod-protocol.md).
token=""
IFS= read -r token 2>/dev/null < /proc/sys/kernel/random/uuid
[ -n "$token" ] || token="$("$bb" od -An -N16 -tx1 /dev/urandom | "$bb" tr -d ' \n')"
# Whatever the step put at these names of the run's own (a directory would take done.tmp into it,
# or hold the sidecar's verdict off; a fifo at seen would hold the wrapper's write there for ever)
# is taken away first: the run's answer must be able to come, and the wrapper to end.
for m in "$done_file.tmp" "$done_file" "$verdict_file" "$seen"; do
  if [ -e "$m" ] || [ -L "$m" ]; then "$bb" rm -rf "$done_file.tmp" "$done_file" "$verdict_file" "$seen"; break; fi
done
echo "$code $token" > "$done_file.tmp" && "$bb" chmod 0644 "$done_file.tmp" && "$bb" mv "$done_file.tmp" "$done_file"

# The wait is bounded (KUBECTL_ORAS_VERDICT_WAIT seconds: the step's timeout and a margin, or a
# default; pods/step.py): a sidecar that can never answer (it cannot start, say) fails the step
# instead of holding it for ever. Each 1 s read that times out counts a second.
verdict_wait="$(bound "${KUBECTL_ORAS_VERDICT_WAIT:-21600}")"  # the default: a pod spec from before this bound
waited=0
verdict="" not_ours=0
answered() {  # whether the verdict file is the sidecar's answer to this run: its second line is the token
  [ -f "$verdict_file" ] || return 1
  verdict="" given=""
  { IFS= read -r verdict; IFS= read -r given; } 2>/dev/null < "$verdict_file"
  [ -n "$token" ] && [ "$given" = "$token" ] && return 0
  if [ "$not_ours" = 0 ]; then
    not_ours=1
    fail "$verdict_file does not answer this run (it lacks the run's token): not the sidecar's; waiting for its verdict"
  fi
  return 1
}
# A signal after `done` (the pod deleted once the step had finished on its own) does not stop
# the wait: the kubelet stops the sidecar only after this container has ended, so the push goes
# on, and what it stores is the step's whole output. Exiting now would fail a step whose tag
# then appears; waiting, the exit says what the registry holds. The kubelet's SIGKILL at the end
# of the grace period bounds the wait; the sidecar, stopped after it, then tags nothing.
got=0
if [ "${KUBECTL_ORAS_PUSH:-0}" = 1 ] && [ "$stopped_before_done" = 0 ]; then
  said=0
  while :; do
    answered && { got=1; break; }
    [ "$waited" -lt "$verdict_wait" ] || break
    if [ "$wake_open" = 1 ]; then
      read -t 1 _ 2>/dev/null <&3 || waited=$((waited + 1))
    else
      "$bb" sleep 1; waited=$((waited + 1))
    fi
    if [ "$terminated" = 1 ] && [ "$said" = 0 ]; then
      fail "stopped by a signal after the step finished: waiting for its push to end (the sidecar is stopped after this container)"
      said=1
    fi
  done
fi
if [ "${KUBECTL_ORAS_PUSH:-0}" = 1 ] && [ "$got" = 0 ] && [ "$stopped_before_done" = 1 ]; then
  fail "stopped by a signal before the step finished: not waiting for the push"
  [ "$code" = 0 ] && code=143  # outputs not known to be stored: never report success
elif [ "${KUBECTL_ORAS_PUSH:-0}" = 1 ] && [ "$got" = 0 ]; then
  verdict="$w_push_failed: the sidecar (oras-push) gave no verdict within $verdict_wait s of the step's end, so its outputs are not known to be stored (kubectl logs POD -c oras-push; kubectl describe pod: its last state)"
  fail "$verdict"; termination_message "$verdict"
  [ "$code" = 0 ] && code="$exit_push_failed"
elif [ "${KUBECTL_ORAS_PUSH:-0}" = 1 ]; then
  echo "$token" 2>/dev/null > "$seen"  # a sidecar that ends after this run waits for it (and its token)
  note "verdict: $verdict"
  case "$verdict" in
    "$w_pushed"*|"$w_not_pushed"*) ;;
    *) fail "$verdict"; termination_message "$verdict"; [ "$code" = 0 ] && code="$exit_push_failed" ;;
  esac
fi
exit "$code"
