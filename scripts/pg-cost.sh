#!/usr/bin/env bash
# What one stored comment costs PostgreSQL, with one and with two frontends: statements (each
# one round trip on its pooled connection), database execution time, CPU time of the
# database's processes, WAL bytes, and the frontends' own CPU time per comment. A throwaway
# cluster (as in scripts/capacity-postgres.sh: fsync and synchronous_commit on) with
# pg_stat_statements and track_io_timing; the same closed-loop `load` as the capacity scripts.
#
#   scripts/pg-cost.sh [SECONDS per run (default 10)] [SERVE FLAGS...]
#
# With `taskset` available, PIN=1 puts the database on CPU 0 and the frontends with their
# clients on CPU 1: a fair one-machine measure of each side's cost.
# Set SKIP_BUILD=1 to use the binaries already built. Needs PostgreSQL's server binaries
# (Debian: postgresql-15, which ships pg_stat_statements) and jq. As root, the cluster runs as
# the `postgres` user.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
shift || true
db_cpu=() front_cpu=()
if [ -n "${PIN:-}" ]; then db_cpu=(taskset -c 0); front_cpu=(taskset -c 1); fi
# shellcheck source=scripts/throwaway-pg.sh
. scripts/throwaway-pg.sh
pg_start -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all \
  -c track_io_timing=on
postmaster=$(head -1 "$work/pg/postmaster.pid")

psql() { as_pg "$pgbin/psql" -X -q -A -t -h 127.0.0.1 -p "$port" -U postgres "$@"; }
# CPU seconds used by the cluster so far: its live processes, and the ones it has reaped.
cluster_cpu() {
  python3 - "$postmaster" <<'PY'
import os, sys
tick = os.sysconf("SC_CLK_TCK")
root = sys.argv[1]
total = 0
for pid in os.listdir("/proc"):
    if not pid.isdigit():
        continue
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        continue
    if pid == root or fields[1] == root:
        total += int(fields[11]) + int(fields[12])
        if pid == root:
            total += int(fields[13]) + int(fields[14])
print(total / tick)
PY
}
proc_cpu() { awk '{print ($14 + $15) / '"$(getconf CLK_TCK)"'}' "/proc/$1/stat"; }

load() { "${front_cpu[@]}" "$bin" load --addr "$1" --connections "$2" --concurrency "$3" --duration "${seconds}s" --json; }

# measure NAME FRONTENDS SERVE-FLAGS...: one database, FRONTENDS frontends loaded together.
measure() {
  local name=$1 frontends=$2; shift 2
  psql -d postgres -c "CREATE DATABASE $name" >/dev/null
  local url="postgres://postgres@127.0.0.1:$port/$name"
  psql -d "$name" -c "CREATE EXTENSION pg_stat_statements" >/dev/null
  local addrs=()
  for i in $(seq "$frontends"); do start "$name$i" --database-url "$url" "$@"; addrs+=("$addr"); done
  psql -d "$name" -c "SELECT pg_stat_statements_reset(); SELECT pg_stat_reset_shared('wal')" >/dev/null
  local wal0 cpu0 front0=0
  wal0=$(psql -d "$name" -c "SELECT wal_bytes FROM pg_stat_wal")
  cpu0=$(cluster_cpu)
  for s in "${servers[@]}"; do front0=$(echo "$front0 + $(proc_cpu "$s")" | bc -l); done
  local pids=()
  for a in "${addrs[@]}"; do
    load "$a" 1 $((64 / frontends)) >"$work/$name-$(echo "$a" | tr -dc 0-9).json" &
    pids+=($!)
  done
  wait "${pids[@]}"
  local cpu1 front1=0
  cpu1=$(cluster_cpu)
  for s in "${servers[@]}"; do front1=$(echo "$front1 + $(proc_cpu "$s")" | bc -l); done
  local comments calls exec_ms wal1 rate
  comments=$(psql -d "$name" -c "SELECT count(*) FROM comments")
  read -r calls exec_ms < <(psql -F ' ' -d "$name" -c \
    "SELECT sum(calls), round(sum(total_exec_time)::numeric, 1) FROM pg_stat_statements \
     WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
       AND query NOT LIKE '%pg_stat%'")
  wal1=$(psql -d "$name" -c "SELECT wal_bytes FROM pg_stat_wal")
  rate=$(jq -s 'map(.throughput_per_s) | add | floor' "$work/$name"-*.json)
  stop_all
  echo "$name: $frontends frontend(s), $rate/s, $comments comments stored"
  python3 - "$comments" "$calls" "$exec_ms" "$cpu0" "$cpu1" "$wal0" "$wal1" "$front0" "$front1" <<'PY'
import sys
n, calls, exec_ms, cpu0, cpu1, wal0, wal1, f0, f1 = map(float, sys.argv[1:])
n = max(n, 1)
print(f"  per comment: {calls / n:.2f} statements (round trips), {exec_ms / n:.3f} ms executing, "
      f"{(cpu1 - cpu0) * 1000 / n:.3f} ms database CPU, {(wal1 - wal0) / n:.0f} WAL bytes, "
      f"{(f1 - f0) * 1000 / n:.3f} ms frontend CPU")
PY
  psql -d "$name" -c "SELECT calls, round(total_exec_time::numeric, 1) AS ms, left(regexp_replace(query, '\s+', ' ', 'g'), 90) \
     FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
     ORDER BY total_exec_time DESC LIMIT 8" | sed 's/^/    /'
}

measure one 1 "$@"
measure two 2 "$@"
