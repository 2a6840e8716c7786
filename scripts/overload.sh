#!/usr/bin/env bash
# Overload: measure capacity, offer twice that at a fixed rate, then half of it again. Shows
# that past capacity requests are refused quickly (RESOURCE_EXHAUSTED) rather than queued,
# that memory stays bounded, that accepted requests keep their latency, and that the server
# recovers when the load stops.
#
#   scripts/overload.sh [SECONDS (default 10)] [SERVE FLAGS...]
#
# e.g. scripts/overload.sh 10 --config limits.toml, to try other max_concurrent_requests or
# admission_wait_ms values, or `adaptive_admission = false` for the fixed limit.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
shift || true
[ -n "${SKIP_BUILD:-}" ] || cargo build --release --quiet
bin=target/release/commentguard
data=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$data"' EXIT

"$bin" serve --listen 127.0.0.1:0 --data-dir "$data/db" "$@" >"$data/stdout" 2>/dev/null &
server=$!
for _ in $(seq 100); do grep -q listening "$data/stdout" 2>/dev/null && break; sleep 0.1; done
addr="http://$(awk '/listening/ {print $NF}' "$data/stdout")"
rss() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$server/status"; }
summary='"%.0f/s answered, %d refused (%.2f %%), accepted p50 %.2f ms, p99 %.2f ms" % (d["throughput_per_s"], d["errors"], 100.0 * d["errors"] / max(1, d["errors"] + d["requests"]), d["latency_ms"]["p50"], d["latency_ms"]["p99"])'
run() {
  "$bin" load --addr "$addr" --connections 2 --json "$@" |
    python3 -c "import json,sys; d=json.load(sys.stdin); print($summary)"
}

capacity=$("$bin" load --addr "$addr" --duration 5s --connections 2 --concurrency 64 --json |
  python3 -c 'import json,sys; print(round(json.load(sys.stdin)["throughput_per_s"]))')
echo "capacity: ${capacity}/s; RSS $(rss) MB"
echo "half capacity ($((capacity / 2))/s): $(run --duration "${seconds}s" --concurrency 4096 --rate $((capacity / 2))); RSS $(rss) MB"
echo "twice capacity ($((capacity * 2))/s): $(run --duration "${seconds}s" --concurrency 4096 --rate $((capacity * 2))); RSS $(rss) MB"
echo "half capacity again: $(run --duration "${seconds}s" --concurrency 4096 --rate $((capacity / 2))); RSS $(rss) MB"
