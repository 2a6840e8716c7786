#!/usr/bin/env bash
# Fill a fresh store with N comments through the live service, then report the server's RSS,
# the time to the first *answered* submission after a kill -9 and after a graceful stop, the
# RSS while serving after a restart, the time EraseAuthor takes for an author with 10 comments
# while load goes on, and the disk used per comment.
#
#   scripts/fill.sh [N (default 1000000)]
# Set SKIP_BUILD=1 to use the binaries already built; KEEP=1 keeps the data directory;
# SERVE_FLAGS adds flags to `serve` (e.g. SERVE_FLAGS="--config small.toml").
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
[ -n "${SKIP_BUILD:-}" ] || cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-target}/release/commentguard
data=$(mktemp -d)
token=fill-moderator-token-0123
server=
trap '[ -z "$server" ] || kill "$server" 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$data"; echo "data: $data"' EXIT

now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc -l | cut -c1-6; }
rss() { awk '/VmRSS/ {printf "%.1f MB", $2/1024}' "/proc/$server/status"; }
start() {
  : >"$data/stdout"
  "$bin" serve --listen 127.0.0.1:0 --data-dir "$data/db" --flood-interval 0 \
    --moderator-token "fill=$token" ${SERVE_FLAGS:-} >"$data/stdout" 2>"$data/stderr" &
  server=$!
  for _ in $(seq 6000); do grep -q listening "$data/stdout" 2>/dev/null && break; sleep 0.005; done
  addr="http://$(awk '/listening/ {print $NF}' "$data/stdout")"
}
load() { "$bin" load --addr "$addr" --connections 2 --concurrency 64 "$@"; }
# Starts the server and has one submission answered; sets `answered` to the seconds from
# launch to the answer.
first_answer() {
  local began
  began=$(now)
  start
  "$bin" load --addr "$addr" --connections 1 --concurrency 1 --requests 1 --duration 60s --json >/dev/null
  answered=$(since "$began")
}

start
load --duration 2h --requests "$n"
echo "server RSS right after $n comments: $(rss)"
kill -KILL "$server"; wait "$server" 2>/dev/null || true
first_answer
echo "first answered submission after kill -9 with $n comments: $answered s"
load --duration 5s --json >/dev/null
echo "server RSS while serving after the kill -9 restart: $(rss)"
began=$(now)
kill -TERM "$server"; wait "$server" || true
echo "graceful shutdown: $(since "$began") s"
first_answer
echo "first answered submission after a graceful stop: $answered s"
load --duration 5s --json >/dev/null
echo "server RSS while serving after a graceful restart: $(rss)"

for i in $(seq 10); do
  "$bin" submit --addr "$addr" --post erase-me --name Erased --email erase-me@example.com \
    --content "Comment $i of the author to erase." >/dev/null
done
load --duration 4s --json >"$data/load.json" &
loader=$!
sleep 1
began=$(now)
COMMENTGUARD_TOKEN=$token "$bin" queue --addr "$addr" erase erase-me@example.com
echo "EraseAuthor of 10 comments among $n: $(since "$began") s (including the CLI's start)"
wait "$loader"
echo "load during the erasure: $(jq -r '"\(.throughput_per_s | floor)/s, \(.errors) errors, p99 \(.latency_ms.p99) ms"' "$data/load.json")"
grep -h "author erased" "$data/stderr" | tail -1 || true
kill -TERM "$server"; wait "$server" || true
server=
bytes=$(du -sb "$data/db" | cut -f1)
echo "disk: $bytes bytes, $((bytes / n)) bytes per comment"
