#!/usr/bin/env bash
# Cost per step against the size of the runbook, in instructions: the
# engine's own work (every thread of the `lifeboat` process, not the
# `/bin/true` it starts) counted by valgrind's callgrind, which counts the
# same on a quiet machine and a loaded one (benches/scale.rs measures wall
# time, which on the shared 2-core machine moves more than the engine
# does). Issue 15's target: 10,000 steps within 1.1x per step of 1,000.
#
#   engine/benches/scale_instructions.sh   # 1,000 and 10,000 steps
#   LIFEBOAT_SCALE_SIZES="1000 4000" engine/benches/scale_instructions.sh
#
# The run includes everything `lifeboat run` does: loading, validation,
# the journal (fsync included), the console (--output json), and the
# three timelines written at the end. The steps are a chain of `shell`
# steps of `/bin/true`, as in benches/scale.rs. Under callgrind the engine
# runs ~50x slower: about 10 minutes for both sizes on 2 cores.
#
# Figures (2026-12-01, release build, on the shared machine: instruction
# counts do not depend on its load): 797,076 instructions per step at
# 1,000 steps, 789,844 at 10,000: ratio 0.991x, within the 1.1x target.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v valgrind >/dev/null || { echo "scale_instructions: needs valgrind (apt-get install valgrind)" >&2; exit 2; }
cargo build --quiet --release -p lifeboat
bin="$PWD/target/release/lifeboat"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sizes=${LIFEBOAT_SCALE_SIZES:-"1000 10000"}
base=""
for n in $sizes; do
  {
    printf 'version: 1\nname: chain\nsteps:\n'
    for ((i = 0; i < n; i++)); do
      printf '  - id: s%d\n    kind: shell\n    with: { run: ["/bin/true"] }\n' "$i"
      if ((i > 0)); then printf '    needs: [s%d]\n' $((i - 1)); fi
    done
  } > "$work/chain$n.yaml"
  LIFEBOAT_STATE_DIR="$work/state$n" valgrind --tool=callgrind --trace-children=no \
    --callgrind-out-file="$work/cg$n.out" "$bin" run "$work/chain$n.yaml" --output json \
    > "$work/run$n.log" 2> "$work/valgrind$n.log" \
    || { echo "scale_instructions: the $n-step run failed; see below" >&2; tail -20 "$work/valgrind$n.log" >&2; exit 1; }
  # One file in all (or one per thread with --separate-threads): sum the `totals:` lines.
  total=$(cat "$work"/cg$n.out* | awk '/^totals:/ { s += $2 } END { printf "%.0f", s }')
  per=$((total / n))
  if [ -z "$base" ]; then
    base=$per
    printf 'SCALE-INSTRUCTIONS steps=%d instructions=%d per_step=%d (baseline)\n' "$n" "$total" "$per"
  else
    ratio=$(awk -v a="$per" -v b="$base" 'BEGIN { printf "%.3f", a / b }')
    printf 'SCALE-INSTRUCTIONS steps=%d instructions=%d per_step=%d ratio=%sx (target 1.1x)\n' "$n" "$total" "$per" "$ratio"
  fi
done
