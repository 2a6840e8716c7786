#!/usr/bin/env bash
# Make the dictionary of comment records (record version 3): fill one store through the live
# service with the training datasets, another with a held-out one, train on the first and report
# sizes on the second. The shipped dictionary never changes (stored records depend on it): write
# a new one to another file, for a new record version.
#
#   scripts/record-dictionary.sh OUT [BYTES (default 16384)]
# Set SKIP_BUILD=1 to use the binaries already built.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/record-dictionary.sh OUT [BYTES]}
bytes=${2:-16384}
training=(tests/data/youtube-spam/Youtube02-KatyPerry.csv tests/data/youtube-spam/Youtube03-LMFAO.csv
  tests/data/sms-spam/SMSSpamCollection)
held_out=tests/data/youtube-spam/Youtube04-Eminem.csv
[ -n "${SKIP_BUILD:-}" ] || cargo build --release --quiet --bin commentguard --example record_dictionary
bin=${CARGO_TARGET_DIR:-target}/release
data=$(mktemp -d)
server=
trap '[ -z "$server" ] || kill "$server" 2>/dev/null || true; rm -rf "$data"' EXIT

# Fills the store in $data/$1 with each dataset that follows: as many requests as the file has
# lines, so every record is sent (a few twice, where a quoted field spans lines).
fill() {
  local store=$1 dataset rows addr
  shift
  "$bin/commentguard" serve --listen 127.0.0.1:0 --data-dir "$data/$store" --flood-interval 0 \
    >"$data/$store.out" 2>"$data/$store.err" &
  server=$!
  for _ in $(seq 6000); do grep -q listening "$data/$store.out" 2>/dev/null && break; sleep 0.005; done
  addr="http://$(awk '/listening/ {print $NF}' "$data/$store.out")"
  for dataset in "$@"; do
    rows=$(wc -l <"$dataset")
    "$bin/commentguard" load --addr "$addr" --dataset "$dataset" --requests "$rows" --duration 10m \
      --json >/dev/null
  done
  kill -TERM "$server"; wait "$server" || true
  server=
}
fill training "${training[@]}"
fill held-out "$held_out"
"$bin/examples/record_dictionary" "$out" "$bytes" "$data/held-out" "$data/training"
