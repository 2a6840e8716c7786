# Sourced by the PostgreSQL scripts (capacity-postgres.sh, pg-cost.sh): a throwaway cluster
# (initdb in a temp dir, a free loopback port, fsync and synchronous_commit on, as in
# production) and frontends as separate processes, all stopped and removed on exit. As root,
# the cluster runs as the `postgres` user. Before sourcing, `db_cpu` and `front_cpu` may hold a
# command prefix (e.g. `taskset -c 0`) for the database and for the frontends and clients.
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

# pg_start [SERVER OPTIONS]: creates and starts the cluster; sets $port.
pg_start() {
  mkdir "$work/pg" && [ "$(id -u)" != 0 ] || chown postgres "$work/pg"
  as_pg "$pgbin/initdb" --auth=trust --username=postgres -D "$work/pg" >/dev/null
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  as_pg "${db_cpu[@]}" "$pgbin/pg_ctl" -D "$work/pg" -w -l "$work/pg/log" \
    -o "-p $port -k $work/pg -c listen_addresses=127.0.0.1 -c max_connections=200 $*" start >/dev/null
}

# start NAME SERVE-FLAGS...: runs a frontend, sets $addr to its URL.
start() {
  local name=$1; shift
  "${front_cpu[@]}" "$bin" serve --listen 127.0.0.1:0 --http-listen off --data-dir "$work/$name" "$@" \
    >"$work/$name.out" 2>/dev/null &
  servers+=($!)
  for _ in $(seq 500); do grep -q listening "$work/$name.out" 2>/dev/null && break; sleep 0.01; done
  addr="http://$(awk '/listening/ {print $NF}' "$work/$name.out")"
}
stop_all() { for s in "${servers[@]}"; do kill "$s"; wait "$s" 2>/dev/null || true; done; servers=(); }
