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
db_cpu=() front_cpu=()
# shellcheck source=scripts/throwaway-pg.sh
. scripts/throwaway-pg.sh
pg_start

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
