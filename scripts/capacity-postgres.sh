#!/usr/bin/env bash
# Durable SubmitComment capacity on PostgreSQL with one and with two frontends, against sled:
# a throwaway PostgreSQL cluster (initdb in a temp dir, a free loopback port, fsync and
# synchronous_commit on, as in production), each frontend its own process, loaded by the
# same closed-loop client as scripts/capacity.sh (2 connections x 64 in flight in all; with
# two frontends, one client per frontend with half of it each, throughputs added).
#
#   scripts/capacity-postgres.sh [SECONDS per run (default 10)]
# Set SKIP_BUILD=1 to use the binaries already built. Needs PostgreSQL's server binaries
# (Debian: postgresql-15) and jq. As root, the cluster runs as the `postgres` user.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
[ -n "${SKIP_BUILD:-}" ] || cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-target}/release/commentguard
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
work=$(mktemp -d)
chmod 755 "$work"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
servers=()
cleanup() {
  for s in "${servers[@]}"; do kill "$s" 2>/dev/null || true; done
  as_pg "$pgbin/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

mkdir "$work/pg" && [ "$(id -u)" != 0 ] || chown postgres "$work/pg"
as_pg "$pgbin/initdb" --auth=trust --username=postgres -D "$work/pg" >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_pg "$pgbin/pg_ctl" -D "$work/pg" -w -l "$work/pg/log" \
  -o "-p $port -k $work/pg -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null

# start NAME ARGS...: runs a frontend, sets $addr to its URL.
start() {
  local name=$1; shift
  "$bin" serve --listen 127.0.0.1:0 --http-listen off --data-dir "$work/$name" "$@" >"$work/$name.out" 2>/dev/null &
  servers+=($!)
  for _ in $(seq 500); do grep -q listening "$work/$name.out" 2>/dev/null && break; sleep 0.01; done
  addr="http://$(awk '/listening/ {print $NF}' "$work/$name.out")"
}
stop_all() { for s in "${servers[@]}"; do kill "$s"; wait "$s" 2>/dev/null || true; done; servers=(); }
load() { "$bin" load --addr "$1" --connections "$2" --concurrency "$3" --duration "${seconds}s" --json; }
summary() { jq -r '"\(.throughput_per_s | floor)/s, \(.errors) errors, p50 \(.latency_ms.p50) ms, p99 \(.latency_ms.p99) ms"'; }

start sled
sled=$(load "$addr" 2 64)
stop_all

db() { as_pg "$pgbin/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -c "CREATE DATABASE $1"; echo "postgres://postgres@127.0.0.1:$port/$1"; }
start one --database-url "$(db one)"
one=$(load "$addr" 2 64)
stop_all

url=$(db two)
start a --database-url "$url"; a=$addr
start b --database-url "$url"; b=$addr
load "$a" 1 32 >"$work/a.json" &
first=$!
load "$b" 1 32 >"$work/b.json"
wait "$first"
stop_all

echo "sled, 1 frontend:       $(summary <<<"$sled")"
echo "postgres, 1 frontend:   $(summary <<<"$one")"
echo "postgres, 2 frontends:  A $(summary <"$work/a.json")"
echo "                        B $(summary <"$work/b.json")"
echo "                        total $(jq -s 'map(.throughput_per_s) | add | floor' "$work/a.json" "$work/b.json")/s"
