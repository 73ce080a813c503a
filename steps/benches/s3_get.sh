#!/usr/bin/env bash
# Benchmark: `s3.get` of a 1 GiB object from a local moto server, against
# `curl` fetching the same object from the same server, in the same run.
#
#   steps/benches/s3_get.sh            # 1 GiB, best of 5 rounds
#   SIZE_MIB=256 ROUNDS=5 steps/benches/s3_get.sh
#
# Needs moto_server (tests/run installs it into target/lifeboat-venv, or set
# LIFEBOAT_MOTO_SERVER) and curl. Builds the `s3_step` example in release,
# uploads the object through `s3.put` (so it carries its sha256 and the get
# verifies it, as in a real restore), then alternates `s3.get` and curl and
# prints each best time and the ratio. The target is a ratio of at most 1.5.
# moto keeps objects in RAM: expect about 2-3 GiB of memory in use.
set -euo pipefail
cd "$(dirname "$0")/../.."

size_mib=${SIZE_MIB:-1024}
rounds=${ROUNDS:-5}
moto=${LIFEBOAT_MOTO_SERVER:-target/lifeboat-venv/bin/moto_server}
if [ ! -x "$moto" ]; then
  moto=$(command -v moto_server || true)
fi
if [ -z "$moto" ]; then
  echo "s3_get.sh: moto_server not found; run tests/run (it installs moto[server]) or pip install 'moto[server]'" >&2
  exit 1
fi
command -v curl >/dev/null || { echo "s3_get.sh: curl is needed" >&2; exit 1; }

cargo build --quiet --release -p lifeboat-steps --example s3_step
bin=${CARGO_TARGET_DIR:-target}/release/examples/s3_step

work=$(mktemp -d)
moto_pid=
cleanup() {
  if [ -n "$moto_pid" ]; then kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$moto" -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto_pid=$!
endpoint="http://127.0.0.1:$port"
for _ in $(seq 1 150); do
  curl -sf -o /dev/null "$endpoint/moto-api/" && break
  sleep 0.1
done
curl -sf -o /dev/null "$endpoint/moto-api/" || { echo "moto did not start:"; cat "$work/moto.log"; exit 1; } >&2
curl -sf -X PUT -o /dev/null "$endpoint/bench"

conn="\"bucket\": \"bench\", \"endpoint\": \"$endpoint\", \"access_key_id\": \"bench\", \"secret_access_key\": \"bench-secret\""
head -c "$((size_mib << 20))" /dev/urandom >"$work/src"
echo "uploading ${size_mib} MiB through s3.put..." >&2
"$bin" s3.put "{$conn, \"key\": \"obj\", \"path\": \"$work/src\"}" >/dev/null

now() { date +%s.%N; }
best_get=
best_curl=
for round in $(seq 1 "$rounds"); do
  rm -f "$work/got" "$work/curl.out"
  t0=$(now)
  "$bin" s3.get "{$conn, \"key\": \"obj\", \"path\": \"$work/got\"}" >"$work/get.json" 2>/dev/null
  t1=$(now)
  curl -sf -o "$work/curl.out" "$endpoint/bench/obj"
  t2=$(now)
  get=$(echo "$t1 - $t0" | bc -l)
  crl=$(echo "$t2 - $t1" | bc -l)
  printf 'round %d: s3.get %.2f s, curl %.2f s\n' "$round" "$get" "$crl"
  if [ -z "$best_get" ] || [ "$(echo "$get < $best_get" | bc -l)" = 1 ]; then best_get=$get; fi
  if [ -z "$best_curl" ] || [ "$(echo "$crl < $best_curl" | bc -l)" = 1 ]; then best_curl=$crl; fi
done
cmp -s "$work/got" "$work/src" || { echo "s3.get wrote different bytes" >&2; exit 1; }
grep -q '"verified":true' "$work/get.json" || { echo "s3.get did not verify the sha256" >&2; exit 1; }

mib_s() { echo "$size_mib / $1" | bc -l; }
printf 's3.get (best of %d): %.2f s (%.0f MiB/s)\n' "$rounds" "$best_get" "$(mib_s "$best_get")"
printf 'curl   (best of %d): %.2f s (%.0f MiB/s)\n' "$rounds" "$best_curl" "$(mib_s "$best_curl")"
printf 'ratio s3.get / curl: %.2f (target <= 1.5)\n' "$(echo "$best_get / $best_curl" | bc -l)"
