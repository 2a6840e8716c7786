#!/usr/bin/env bash
# Slow-headers flood on the HTTP listener (console, Akismet, metrics): opens N connections
# that send a request line and one header, never the blank line that ends the headers, and
# reports the server's memory before and during, how many of them are still open 5 s and 15 s
# later, and whether another client is answered meanwhile.
#
#   scripts/slow-headers.sh [N (default 2000)] [SERVE FLAGS...]
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-2000}
shift || true
# BIN=path/to/commentguard uses that build instead of building the release one.
if [ -z "${BIN:-}" ]; then cargo build --release --quiet; fi
bin=${BIN:-${CARGO_TARGET_DIR:-target}/release/commentguard}
data=$(mktemp -d)
trap 'kill "$flooder" 2>/dev/null || true; kill "$server" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$data"' EXIT
ulimit -n 65536 2>/dev/null || true
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

"$bin" serve --listen 127.0.0.1:0 --http-listen "127.0.0.1:$port" --data-dir "$data/db" "$@" \
  >"$data/stdout" 2>"$data/stderr" &
server=$!
for _ in $(seq 100); do grep -q "console on" "$data/stdout" 2>/dev/null && break; sleep 0.1; done
rss() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$server/status"; }
answered() {
  if curl -fsS -m 5 "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then echo yes; else echo NO; fi
}
echo "before: RSS $(rss) MB; answered: $(answered)"

python3 - "$port" "$count" >"$data/flood" 2>&1 <<'PY' &
import socket, sys, time
port, count = int(sys.argv[1]), int(sys.argv[2])
held, failed = [], 0
for _ in range(count):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        s.setblocking(False)
        held.append(s)
    except OSError:
        failed += 1
print(f"opened {len(held)}, failed {failed}", flush=True)
def still_open():
    n = 0
    for s in held:
        try:
            if s.recv(1, socket.MSG_PEEK) == b"":
                continue
            n += 1
        except BlockingIOError:
            n += 1
        except OSError:
            pass
    return n
start = time.time()
for at in (5, 15):
    time.sleep(max(0, start + at - time.time()))
    print(f"still open after {at} s: {still_open()}", flush=True)
time.sleep(3600)
PY
flooder=$!
for _ in $(seq 600); do grep -q opened "$data/flood" 2>/dev/null && break; sleep 0.1; done
echo "flood: $(head -1 "$data/flood"); server RSS $(rss) MB; answered: $(answered)"
for _ in $(seq 300); do grep -q "after 15 s" "$data/flood" 2>/dev/null && break; sleep 0.1; done
grep "still open" "$data/flood"
echo "after: RSS $(rss) MB; answered: $(answered)"
