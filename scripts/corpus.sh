#!/usr/bin/env bash
# The spam model's measures over the whole corpus: the data in this repository plus the
# further sets of tests/data/corpus-sources.md, converted to JSON Lines in a directory of
# their own (they are not in the repository; see tests/data/README.md).
#
#   CORPUS=/path/to/converted scripts/corpus.sh loso [RECIPE FLAGS...]
#       leave-one-source-out over every source (the table of docs/classifier.md)
#   CORPUS=/path/to/converted scripts/corpus.sh train [RECIPE FLAGS...]
#       retrain models/default.json on the in-repository data and Indonesian SMS (CC BY-SA
#       4.0; the one further set whose licence allows a shipped model and that measured as
#       helping: SpamAssassin's e-mail, PDDL/CC0, made Q&A-site spam read as ham)
# Set SKIP_BUILD=1 to use the binary already built.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:?usage: CORPUS=DIR scripts/corpus.sh loso|train [RECIPE FLAGS...]}
shift
corpus=${CORPUS:?set CORPUS to the directory of the converted sets}
[ -n "${SKIP_BUILD:-}" ] || cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-target}/release/commentguard

in_repo=()
for f in tests/data/youtube-spam/Youtube0{1,2,3,4}-*.csv tests/data/sms-spam/SMSSpamCollection; do
  in_repo+=(--dataset "$f")
done
# The shipped recipe is the default one; flags given after the mode are added to it (for
# example `--calibrate-by-source 0.02 --calibration-exempt spamassassin --calibration-exempt opspam`).

case "$mode" in
  loso)
    further=()
    for f in "$corpus"/*.jsonl; do further+=(--dataset "$f"); done
    "$bin" eval "${in_repo[@]}" "${further[@]}" --leave-one-source-out "$@"
    ;;
  train)
    "$bin" train "${in_repo[@]}" --dataset "$corpus/indonesian-sms.jsonl" \
      --out models/default.json "$@"
    ;;
  *)
    echo "unknown mode $mode (loso or train)" >&2
    exit 2
    ;;
esac
