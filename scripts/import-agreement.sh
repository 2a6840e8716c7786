#!/usr/bin/env bash
# The classifier's agreement with a site's imported decisions, out of sample: trains a model on
# three YouTube videos and the SMS collection, serves it, imports the fourth video as a
# WordPress export (spam → spam, ham → approved) and prints the import's JSON report, whose
# `agreement` is the figure (`agreed` of `labels`). Batches of 500: each comment is scored
# before the classifier learns from its batch, so with one batch (a video has fewer than 500
# comments) the figure is the trained model's alone.
#
# usage: scripts/import-agreement.sh [HELD_OUT_CSV]   (default: the Eminem video)
set -euo pipefail
cd "$(dirname "$0")/.."
held_out=${1:-tests/data/youtube-spam/Youtube04-Eminem.csv}
work=$(mktemp -d)
server=
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

cargo build --quiet --bin commentguard --example dataset_wxr
bin=${CARGO_TARGET_DIR:-target}/debug
training=()
for file in tests/data/youtube-spam/*.csv tests/data/sms-spam/SMSSpamCollection; do
    [ "$file" = "$held_out" ] || training+=(--dataset "$file")
done
"$bin/commentguard" train "${training[@]}" --out "$work/model.json" >&2
"$bin/examples/dataset_wxr" "$held_out" > "$work/export.wxr"

token=agreement-script-0123456789
mkfifo "$work/out"
"$bin/commentguard" serve --listen 127.0.0.1:0 --http-listen off --data-dir "$work/data" \
    --model "$work/model.json" --moderator-token "ops=$token" > "$work/out" 2>/dev/null &
server=$!
exec 3< "$work/out"
read -r line <&3
addr=${line#commentguard listening on }
"$bin/commentguard" import --addr "http://$addr" --token "$token" --format wxr --batch 500 --json "$work/export.wxr" \
    | sed 's/"failures":\[[^]]*\],//'
