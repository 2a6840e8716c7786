#!/usr/bin/env bash
# Latency at a fixed rate of half the real service's capacity, for the real service and for
# the no-op twin (examples/noop_twin.rs), each as its own server process loaded by the same
# `commentguard load` command, one after the other. Prints both p99s and their ratio.
#
#   scripts/latency.sh [SECONDS per run (default 20)] [CONNECTIONS (default 2)]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
connections=${2:-2}
[ -n "${SKIP_BUILD:-}" ] || cargo build --release --quiet
[ -n "${SKIP_BUILD:-}" ] || cargo build --release --quiet --example noop_twin
bin=${CARGO_TARGET_DIR:-target}/release/commentguard
data=$(mktemp -d)
server=
trap '[ -z "$server" ] || kill "$server" 2>/dev/null || true; rm -rf "$data"' EXIT

start() {
  : >"$data/stdout"
  "$@" >"$data/stdout" 2>/dev/null &
  server=$!
  for _ in $(seq 300); do grep -q listening "$data/stdout" 2>/dev/null && break; sleep 0.01; done
  addr="http://$(awk '/listening/ {print $NF}' "$data/stdout")"
}
stop() { kill "$server"; wait "$server" 2>/dev/null || true; server=; }
load() { "$bin" load --addr "$addr" --connections "$connections" --json "$@"; }
field() { jq -r "$1"; }

start "$bin" serve --listen 127.0.0.1:0 --data-dir "$data/db"
capacity=$(load --duration 10s --concurrency 64 | field '.throughput_per_s | floor')
rate=$((capacity / 2))
echo "real service capacity (closed loop, 64 in flight): ${capacity}/s; fixed rate: ${rate}/s"
real=$(load --duration "${seconds}s" --concurrency 1024 --rate "$rate")
stop
start "${CARGO_TARGET_DIR:-target}"/release/examples/noop_twin 127.0.0.1:0
twin=$(load --duration "${seconds}s" --concurrency 1024 --rate "$rate")
stop

for name in real twin; do
  echo "$name: $(field '"\(.throughput_per_s | floor)/s answered, \(.errors) errors, p50 \(.latency_ms.p50) ms, p90 \(.latency_ms.p90) ms, p99 \(.latency_ms.p99) ms, max \(.latency_ms.max) ms"' <<<"${!name}")"
done
echo "p99 ratio real/twin: $(jq -rn --argjson r "$real" --argjson t "$twin" '$r.latency_ms.p99 / $t.latency_ms.p99 * 100 | floor / 100')"
