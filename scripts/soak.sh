#!/usr/bin/env bash
# Soak: load the service at half its measured capacity for a long time and sample the
# server's RSS and the load's p99 latency every window. Not part of the test suite.
#
#   scripts/soak.sh [MINUTES (default 10)] [WINDOW_SECONDS (default 10)]
#
# Prints one line per window: elapsed seconds, requests/s, p99 ms, errors, server RSS MB.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-10}
window=${2:-10}
cargo build --release --quiet
bin=target/release/commentguard
data=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$data"' EXIT

"$bin" serve --listen 127.0.0.1:0 --data-dir "$data" >"$data/stdout" 2>/dev/null &
server=$!
for _ in $(seq 100); do grep -q listening "$data/stdout" 2>/dev/null && break; sleep 0.1; done
addr="http://$(awk '/listening/ {print $NF}' "$data/stdout")"

json_field() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
capacity=$("$bin" load --addr "$addr" --duration 5s --connections 2 --concurrency 64 --json |
  json_field 'round(d["throughput_per_s"])')
rate=$((capacity / 2))
echo "capacity ${capacity}/s (closed loop, 64 in flight); soaking at ${rate}/s for ${minutes} min"
printf '%8s %10s %10s %8s %10s\n' elapsed_s rate_per_s p99_ms errors rss_mb
windows=$((minutes * 60 / window))
for i in $(seq 1 "$windows"); do
  line=$("$bin" load --addr "$addr" --duration "${window}s" --connections 2 --concurrency 256 \
    --rate "$rate" --json | json_field '"%.0f %.3f %d" % (d["throughput_per_s"], d["latency_ms"]["p99"], d["errors"])')
  rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$server/status")
  read -r got p99 errors <<<"$line"
  printf '%8d %10s %10s %8s %10.1f\n' $((i * window)) "$got" "$p99" "$errors" "$(echo "$rss_kb / 1024" | bc -l)"
done
echo "stored on disk: $(du -sh "$data" | cut -f1)"
