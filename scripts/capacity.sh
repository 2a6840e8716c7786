#!/usr/bin/env bash
# Durable SubmitComment capacity of the real service against the no-op twin
# (examples/noop_twin.rs): each server its own process, loaded one after the other by the same
# closed-loop client (2 connections x 64 in flight). Prints both throughputs and their ratio.
#
#   scripts/capacity.sh [SECONDS per run (default 10)]
# Set SKIP_BUILD=1 to use the binaries already built.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
if [ -z "${SKIP_BUILD:-}" ]; then
  cargo build --release --quiet
  cargo build --release --quiet --example noop_twin
fi
release=${CARGO_TARGET_DIR:-target}/release
bin=$release/commentguard
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
load() {
  "$bin" load --addr "$addr" --connections 2 --concurrency 64 --duration "${seconds}s" --json
}
summary() { jq -r '"\(.throughput_per_s | floor)/s, \(.errors) errors, p50 \(.latency_ms.p50) ms, p99 \(.latency_ms.p99) ms"'; }

start "$release/examples/noop_twin" 127.0.0.1:0
twin=$(load)
stop
start "$bin" serve --listen 127.0.0.1:0 --data-dir "$data/db"
real=$(load)
stop

echo "twin: $(summary <<<"$twin")"
echo "real: $(summary <<<"$real")"
echo "ratio real/twin: $(jq -rn --argjson r "$real" --argjson t "$twin" '$r.throughput_per_s / $t.throughput_per_s * 1000 | floor / 10')%"
