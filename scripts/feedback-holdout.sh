#!/usr/bin/env bash
# Learning from moderators on a community the model never saw: trains the shipped recipe on the
# other data files of this repository (videos and SMS), serves it, and replays the held-out video twice on fresh stores — without a
# moderator (`replay --unary`) and with one correcting every wrong verdict
# (`replay --feedback`) — printing the whole stream's figures and the second half's.
#
#   scripts/feedback-holdout.sh tests/data/youtube-spam/Youtube01-Psy.csv
#   scripts/feedback-holdout.sh tests/data/sms-spam/SMSSpamCollection
# Set SKIP_BUILD=1 to use the binary already built.
set -euo pipefail
cd "$(dirname "$0")/.."
held=${1:?usage: scripts/feedback-holdout.sh DATASET}
[ -n "${SKIP_BUILD:-}" ] || cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-target}/release/commentguard
work=$(mktemp -d)
server=
trap '[ -z "$server" ] || kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
token=holdout-moderator-token-0123
others=()
for f in tests/data/youtube-spam/*.csv tests/data/sms-spam/SMSSpamCollection; do
  [ "$f" -ef "$held" ] || others+=(--dataset "$f")
done
"$bin" train "${others[@]}" --folds 0 --out "$work/model.json" >/dev/null 2>"$work/train.log"
summary='d = json.load(sys.stdin); h = d.get("second_half") or {}
print("whole: mcc %.3f, ham flagged %.2f %%, recall %.3f" % (d["mcc"], 100 * d["ham_false_positive_rate"], d["recall"]), end="")
if h: print(" | second half: mcc %.3f, ham flagged %.2f %%, recall %.3f" % (h["mcc"], 100 * h["ham_false_positive_rate"], h["recall"]), end="")
print()'
for mode in without with; do
  rm -rf "$work/db"
  "$bin" serve --listen 127.0.0.1:0 --http-listen off --data-dir "$work/db" \
    --model "$work/model.json" --moderator-token "holdout=$token" >"$work/stdout" 2>/dev/null &
  server=$!
  for _ in $(seq 200); do grep -q listening "$work/stdout" 2>/dev/null && break; sleep 0.05; done
  addr="http://$(awk '/listening/ {print $NF}' "$work/stdout")"
  if [ "$mode" = with ]; then flags=(--feedback --token "$token"); else flags=(--unary); fi
  echo "$mode a moderator: $("$bin" replay --addr "$addr" --dataset "$held" --json "${flags[@]}" |
    python3 -c "import json, sys; $summary")"
  kill "$server"; wait "$server" 2>/dev/null || true
  server=
done
