#!/usr/bin/env bash
# The full crash sweep of a restore: `full-cluster-loss` on a real 3-node
# OpenBao cluster (the vault_fixture cluster, with moto) is SIGKILLed at the
# start of every step and in the middle of every step longer than 100 ms
# (taken from an uninterrupted reference run), and after each kill recovered
# exactly as docs/runbooks/full-cluster-loss.md ("After a crash") says for
# that moment. Every kill point must end with 100/100 secrets verified.
#
#   engine/benches/crash_sweep.sh
#
# CI runs a sample of 8 kill points (engine/tests/crash_restore.rs); this
# runs them all: about 40 points at 15 s each (10 minutes on 2 cores; the
# engine's own assert and checkpoint steps leave no moment to kill).
# `LIFEBOAT_CRASH_SKIP=N` starts at the N-th point. Needs what the Vault runbook tests need
# (tests/run installs bao, moto and jq). Prints one CRASH-POINT line per
# kill point and a CRASH-SWEEP total.
set -euo pipefail
cd "$(dirname "$0")/../.."
LIFEBOAT_CRASH_SWEEP=all cargo test --quiet -p lifeboat --test crash_restore -- --nocapture 2>&1 \
  | grep -E 'CRASH-|panicked|FAILED|test result' 
