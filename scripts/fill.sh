#!/usr/bin/env bash
# Fill a fresh store with N comments through the live service, then report the server's RSS,
# the time a restart takes to listen again, and the disk used per comment.
#
#   scripts/fill.sh [N (default 1000000)]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
cargo build --release --quiet
bin=target/release/commentguard
data=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$data"; echo "data: $data"' EXIT

start() {
  : >"$data/stdout"
  "$bin" serve --listen 127.0.0.1:0 --data-dir "$data/db" >"$data/stdout" 2>/dev/null &
  server=$!
  for _ in $(seq 3000); do grep -q listening "$data/stdout" 2>/dev/null && break; sleep 0.01; done
  addr="http://$(awk '/listening/ {print $NF}' "$data/stdout")"
}

start
"$bin" load --addr "$addr" --duration 1h --requests "$n" --connections 2 --concurrency 64
echo "server RSS after $n comments: $(awk '/VmRSS/ {printf "%.1f MB", $2/1024}' "/proc/$server/status")"
# A graceful stop writes sled's recovery snapshot (see Store::close_with_snapshot), so the next
# start reads it instead of replaying everything logged since this server started.
began=$(date +%s.%N)
kill -TERM "$server"; wait "$server" || true
echo "graceful shutdown with $n comments: $(echo "$(date +%s.%N) - $began" | bc -l | cut -c1-6) s"
for restart in first second; do
  began=$(date +%s.%N)
  start
  ready=$(date +%s.%N)
  echo "$restart restart to listening with $n comments: $(echo "$ready - $began" | bc -l | cut -c1-6) s"
  echo "server RSS after the $restart restart: $(awk '/VmRSS/ {printf "%.1f MB", $2/1024}' "/proc/$server/status")"
  kill -TERM "$server"; wait "$server" || true
done
bytes=$(du -sb "$data/db" | cut -f1)
echo "disk: $bytes bytes, $((bytes / n)) bytes per comment"
