#!/usr/bin/env bash
# kill -9 torture: apply a small migration, kill cutover at a random instant,
# resume until it completes, and count what went wrong. Not part of CI.
#
#   bench/torture.sh [TRIALS]        (default 200; CUTOVER=path/to/cutover)
#
# Per trial it checks the rules of DESIGN.md's safety section:
# - double runs: a non-idempotent step whose command started twice;
# - lost transitions: a step recorded done whose command never finished, or
#   a migration that never reached "every node done";
# - manual resolves: how often the operator had to run `state resolve`
#   (with the exec supervisor, only when cutover died in the instant between
#   journaling a start and starting the supervisor, or never).
set -u
trials="${1:-200}"
cutover="${CUTOVER:-$(cd "$(dirname "$0")/.." && pwd)/target/release/cutover}"
[ -x "$cutover" ] || { echo "no cutover binary at $cutover (cargo build --release, or set CUTOVER)" >&2; exit 2; }

step() { # name deps idempotent
  printf 'step "exec" "%s" {\n  shell = "echo start %s >> ran.log; sleep 0.05; echo end %s >> ran.log"\n  idempotent = %s\n  depends_on = [%s]\n}\n' "$1" "$1" "$1" "$3" "$2"
}
spec() {
  echo 'migration "torture" {}'
  step a1 "" false
  step a2 "" false
  step b "step.a1, step.a2" false
  printf 'resource "local_file" "mark" {\n  path = "mark.txt"\n  content = "m"\n  depends_on = [step.b]\n}\n'
  step c1 "local_file.mark" false
  step c2 "local_file.mark" true
  printf 'gate "exec" "g" {\n  shell = "test -f mark.txt"\n  interval = "20ms"\n  depends_on = [step.c1, step.c2]\n}\n'
  step d "gate.g" false
}
count() { local c; c=$(grep -cx "$2" "$1" 2>/dev/null); echo "${c:-0}"; }

double=0 lost=0 resolves=0 unfinished=0
start=$(date +%s)
for t in $(seq 1 "$trials"); do
  dir=$(mktemp -d)
  spec >"$dir/main.hcl"
  (cd "$dir" && exec "$cutover" apply -auto-approve >/dev/null 2>&1) &
  pid=$!
  sleep "0.$(printf '%03d' $((RANDOM % 450)))"
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  sleep 0.15 # orphaned commands finish what they were doing
  done_ok=0
  for _ in $(seq 1 10); do
    if (cd "$dir" && "$cutover" apply -auto-approve >"$dir/out" 2>"$dir/err"); then done_ok=1; break; fi
    grep -q "may have done part of its work" "$dir/err" || break
    # Play the operator: a step whose command finished is done, else failed.
    while read -r addr status _; do
      [ "$status" = started ] || [ "$status" = interrupted ] || continue
      name=${addr#step.}
      verdict=--failed
      [ "$(count "$dir/ran.log" "end $name")" -ge 1 ] && verdict=--done
      (cd "$dir" && "$cutover" state resolve "$addr" "$verdict" >/dev/null)
      resolves=$((resolves + 1))
    done < <(cd "$dir" && "$cutover" state list)
  done
  [ "$done_ok" = 1 ] || { unfinished=$((unfinished + 1)); echo "trial $t: never finished: $(cat "$dir/err")"; }
  for name in a1 a2 b c1 d; do
    [ "$(count "$dir/ran.log" "start $name")" -le 1 ] || { double=$((double + 1)); echo "trial $t: $name ran twice"; }
  done
  while read -r addr status _; do
    case "$addr" in step.*) ;; *) continue ;; esac
    if [ "$status" != done ] || [ "$(count "$dir/ran.log" "end ${addr#step.}")" -lt 1 ]; then
      lost=$((lost + 1)); echo "trial $t: $addr is $status after the migration completed"
    fi
  done < <(cd "$dir" && "$cutover" state list)
  rm -rf "$dir"
done
echo "$trials kill -9 trials in $(( $(date +%s) - start )) s: $double double runs, $lost lost transitions, $resolves manual resolves, $unfinished never finished"
