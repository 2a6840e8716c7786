#!/usr/bin/env bash
# Idle-connection flood: opens N TCP connections that send the HTTP/2 preface and then
# nothing, and reports the server's memory before, during and after, how many connections
# it kept, and whether another client is still answered during the flood.
#
#   scripts/flood.sh [N (default 19000)] [SERVE FLAGS...]
#
# e.g. scripts/flood.sh 19000 --max-connections 100000 to see the flood unbounded.
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-19000}
shift || true
# BIN=path/to/commentguard uses that build instead of building the release one.
if [ -z "${BIN:-}" ]; then cargo build --release --quiet; fi
bin=${BIN:-${CARGO_TARGET_DIR:-target}/release/commentguard}
data=$(mktemp -d)
trap 'kill "$flooder" 2>/dev/null || true; kill "$server" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$data"' EXIT
ulimit -n 65536 2>/dev/null || true

"$bin" serve --listen 127.0.0.1:0 --data-dir "$data/db" "$@" >"$data/stdout" 2>"$data/stderr" &
server=$!
for _ in $(seq 100); do grep -q listening "$data/stdout" 2>/dev/null && break; sleep 0.1; done
hostport=$(awk '/listening/ {print $NF}' "$data/stdout")
rss() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$server/status"; }
open_conns() { ls "/proc/$server/fd" | wc -l; }
answered() {
  if "$bin" submit --addr "http://$hostport" --post flood --name Ada --email "ada$1@example.com" \
    --content "Still answered during the flood $1." >/dev/null 2>&1; then echo yes; else echo NO; fi
}
echo "before: RSS $(rss) MB, $(open_conns) fds; answered: $(answered 0)"

python3 - "$hostport" "$count" >"$data/flood" 2>&1 <<'PY' &
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
count = int(sys.argv[2])
preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
held, failed = [], 0
for _ in range(count):
    try:
        s = socket.create_connection((host, int(port)), timeout=5)
        s.sendall(preface)
        held.append(s)
    except OSError:
        failed += 1
print(f"opened {len(held)}, failed {failed}", flush=True)
time.sleep(3600)
PY
flooder=$!
for _ in $(seq 600); do grep -q opened "$data/flood" 2>/dev/null && break; sleep 0.1; done
echo "flood: $(cat "$data/flood"); server RSS $(rss) MB, $(open_conns) fds; answered: $(answered 1)"
sleep 2
echo "flood +2 s: RSS $(rss) MB, $(open_conns) fds; answered: $(answered 2)"
sleep 10
echo "flood +12 s (past the first-request deadline): RSS $(rss) MB, $(open_conns) fds; answered: $(answered 3)"
kill "$flooder"; wait "$flooder" 2>/dev/null || true
sleep 1
echo "after the flood: RSS $(rss) MB, $(open_conns) fds; answered: $(answered 4)"
