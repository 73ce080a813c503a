#!/usr/bin/env bash
# The exhaustive takeover sweep (issue 13): a 30-step runbook with parallel
# branches runs in a shared store (moto on 127.0.0.1); its driver is
# SIGKILLed at pseudo-random moments and another "machine" (its own HOME and
# state directory, sharing only the store) takes over with
# `resume --take-over --yes`, until the run succeeds. At least KILLS kills
# (default 30) are made across as many runs as that takes.
#
# Each step appends its id to one marker file in a directory both machines
# share. Safe steps write their marker first, then work; `rerun: never`
# steps work, then write it as their last action. When a kill interrupts a
# `never` step, the sweep waits for the killed engine's orphaned children,
# then decides as an operator would, from the marker: `mark done` if it is
# there, else `mark failed` (which runs it again).
#
# After each run it checks, from the journal and the markers:
# - the run succeeded;
# - every step succeeded (or was marked done) exactly once, and never
#   started again after its success was journalled;
# - no step ran more often than the journal says it started (write-ahead);
# - every `never` step ran exactly once.
#
# Usage: engine/benches/takeover_sweep.sh [KILLS]   (from the workspace root)
# Needs: target/debug/lifeboat (cargo build -p lifeboat), moto_server (in
# target/lifeboat-venv, as the tests use), jq, curl.
# Prints one line per run and a summary; exits 1 at the first violation.
set -euo pipefail

KILLS=${1:-30}
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${LIFEBOAT_BIN:-$root/target/debug/lifeboat}
moto=${LIFEBOAT_MOTO_SERVER:-$root/target/lifeboat-venv/bin/moto_server}
[[ -x $bin ]] || { echo "no $bin: cargo build -p lifeboat" >&2; exit 2; }
[[ -x $moto ]] || { echo "no $moto: run tests/run once to install it" >&2; exit 2; }

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$moto" -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto_pid=$!
keep=0
trap 'kill $moto_pid 2>/dev/null || true; (( keep )) || rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -s "http://127.0.0.1:$port/moto-api/" >/dev/null && break; sleep 0.1; done
curl -s -X PUT "http://127.0.0.1:$port/sweep" >/dev/null

export AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN LIFEBOAT_STATE_DIR

NEVER=" a5 b3 c7 join "
ids() { echo start; for b in a b c; do for i in $(seq 9); do echo "$b$i"; done; done; echo join; echo finish; }

runbook() { # $1: marker file
  echo "version: 1"; echo "name: sweep"; echo "defaults: { timeout: 30s }"; echo "steps:"
  local n=0 id needs rerun script
  for id in $(ids); do
    case $id in
      start) needs="" ;;
      join) needs="a9, b9, c9" ;;
      finish) needs="join" ;;
      b5) needs="b4, a4" ;;
      *1) needs="start" ;;
      *) needs="${id:0:1}$(( ${id:1} - 1 ))" ;;
    esac
    local sleep="0.$(( 1 + (n * 7) % 4 ))"
    if [[ $NEVER == *" $id "* ]]; then
      rerun=never; script="sleep $sleep; echo $id >> $1"
    else
      rerun=safe; script="echo $id >> $1; sleep $sleep"
    fi
    printf '  - id: %s\n    kind: shell\n    rerun: %s\n    needs: [%s]\n    with: { script: "%s" }\n' \
      "$id" "$rerun" "$needs" "$script"
    n=$((n + 1))
  done
}

machine() { # $1: a or b; the rest: lifeboat's arguments. Called in a
  # subshell, which it replaces, so that `kill` reaches lifeboat itself.
  local m=$1; shift
  exec env HOME="$work/$m/home" LIFEBOAT_STATE_DIR="$work/$m/state" LIFEBOAT_OPERATOR="op-$m" \
    LIFEBOAT_STORE="s3://sweep/$prefix" "$bin" "$@"
}

wait_orphans() { # no process left with its cwd under the machines' dirs
  local pid
  for _ in $(seq 300); do
    local alive=0
    for pid in /proc/[0-9]*; do
      [[ $(readlink "$pid/cwd" 2>/dev/null) == "$work"/[ab]/* ]] && { alive=1; break; }
    done
    (( alive )) || return 0
    sleep 0.1
  done
  echo "orphaned step processes did not end" >&2; exit 1
}

fail() { keep=1; echo "VIOLATION in run $run ($prefix): $*; kept $work" >&2; exit 1; }

seed=${SEED:-42}
rand() { seed=$(( (seed * 1103515245 + 12345) % 2147483648 )); echo $(( seed % $1 )); }

kills=0 runs=0
while (( kills < KILLS )); do
  runs=$((runs + 1)); prefix=run$runs
  mkdir -p "$work/a/home" "$work/b/home" "$work/$prefix"
  markers=$work/$prefix/markers
  runbook "$markers" > "$work/a/sweep.yaml"
  out=$work/$prefix/out; driver=a; run_kills=0
  (cd "$work/a" && machine a run sweep.yaml --new > "$out.run" 2>&1) &
  pid=$!
  for _ in $(seq 100); do [[ -s $out.run ]] && break; sleep 0.02; done
  run=$(head -1 "$out.run")
  code=
  while :; do
    sleep "0.$(( 2 + $(rand 7) ))"
    if ! kill -0 "$pid" 2>/dev/null; then wait "$pid" && code=0 || code=$?; break; fi
    (( run_kills >= 12 )) && { wait "$pid" && code=0 || code=$?; break; }
    kill -KILL "$pid"; wait "$pid" 2>/dev/null || true
    kills=$((kills + 1)); run_kills=$((run_kills + 1))
    [[ $driver == a ]] && driver=b || driver=a
    (cd "$work/$driver" && machine $driver resume "$run" --take-over --yes >> "$out.$driver" 2>&1) &
    pid=$!
  done
  # Interrupted `never` steps wait for a human.
  for _ in $(seq 10); do
    (( code == 3 )) || break
    wait_orphans
    for id in $NEVER; do
      if (cd "$work/$driver" && machine $driver status "$run") | grep -q "waiting:  $id:"; then
        if grep -qx "$id" "$markers"; then outcome=done; else outcome=failed; fi
        (cd "$work/$driver" && machine $driver mark "$run" "$id" $outcome --as sweep >/dev/null)
      fi
    done
    (cd "$work/$driver" && machine $driver resume "$run" >> "$out.$driver" 2>&1) && code=0 || code=$?
  done
  wait_orphans
  (( code == 0 )) || fail "the run ended with exit $code (see $out.*)"
  (cd "$work/$driver" && machine $driver status "$run" >/dev/null)
  journal=$work/$driver/state/runs/$run/journal.jsonl
  recs=$(jq -c '.rec' "$journal")
  for id in $(ids); do
    done_at=$(jq -s --arg id "$id" '[.[] | select(.step == $id and (.type == "step_succeeded" or (.type == "marked" and .outcome == "done")))] | map(.seq)' <<< "$recs")
    [[ $(jq length <<< "$done_at") == 1 ]] || fail "\`$id\` succeeded $(jq length <<< "$done_at") times"
    late=$(jq -s --arg id "$id" --argjson at "$(jq '.[0]' <<< "$done_at")" '[.[] | select(.step == $id and .type == "step_started" and .seq > $at)] | length' <<< "$recs")
    (( late == 0 )) || fail "\`$id\` started again after its success was journalled"
    started=$(jq -s --arg id "$id" '[.[] | select(.step == $id and .type == "step_started")] | length' <<< "$recs")
    ran=$(grep -cx "$id" "$markers" || true)
    (( ran >= 1 && ran <= started )) || fail "\`$id\` ran $ran times, started $started times"
    if [[ $NEVER == *" $id "* ]] && (( ran != 1 )); then fail "\`$id\` (rerun: never) ran $ran times"; fi
  done
  echo "run $runs ($run): $run_kills kills, succeeded; every check holds"
done
echo "sweep: $kills kills across $runs runs of a 30-step runbook; no step ran again after its success was journalled, no rerun: never step ran twice"
