#!/usr/bin/env bash
# The site model measured the way a site lives, over the whole corpus: for each source, the
# shipped recipe trained on every other source (texts also in the held source left out, as in
# `eval --leave-one-source-out`) serves a fresh store, and the held source is replayed through
# it as a stream, three ways:
#   static     `replay --unary` of the second half: nobody moderates;
#   feedback   `replay --feedback`: a moderator corrects every wrong verdict as it comes;
#   refit      a model trained on the other sources plus the stream's first half, all of its
#              labels (what a full retraining on the same data would give), replaying the
#              second half.
# Per source: the second half's MCC and ham flagged each way, the corrections made, and the
# records and corrections the feedback stream took until a window of 100 first reached MCC
# 0.8. Streams from the repository keep their file order; the further sets (files grouped by
# label, no time order) are shuffled with a fixed seed. A JSON line per source goes to
# $OUT/feedback-loso.jsonl with each stream's windows (its learning curve) for plotting.
#
#   CORPUS=/path/to/converted scripts/feedback-loso.sh [SOURCE...]
# Set SKIP_BUILD=1 to use the binary already built; OUT=DIR to keep the results (default: a
# temporary directory, removed).
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${CORPUS:?set CORPUS to the directory of the converted sets}
[ -n "${SKIP_BUILD:-}" ] || cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-target}/release/commentguard
work=$(mktemp -d)
out=${OUT:-$work}
mkdir -p "$out"
server=
trap '[ -z "$server" ] || kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
token=loso-moderator-token-0123

files=(tests/data/youtube-spam/Youtube0{1,2,3,4}-*.csv tests/data/sms-spam/SMSSpamCollection "$corpus"/*.jsonl)
# Every source as JSON Lines rows with their source, the held one's stream and halves, and
# the training sets: split.py SOURCE writes $work/{train,stream,first,second,refit}.jsonl.
cat >"$work/split.py" <<'PY'
import csv, json, os, random, sys
held, work, files = sys.argv[1], sys.argv[2], sys.argv[3:]
def rows_of(path):
    name = os.path.basename(path)
    if path.endswith(".csv"):
        with open(path, encoding="utf-8", newline="") as f:
            for r in csv.DictReader(f):
                yield dict(post_id=name.split(".")[0], author_name=r["AUTHOR"], content=r["CONTENT"],
                           label="spam" if r["CLASS"].strip() == "1" else "ham", source=name.split(".")[0])
    elif path.endswith(".jsonl"):
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    r = json.loads(line)
                    r.setdefault("source", name.rsplit(".", 1)[0])
                    yield r
    else:
        with open(path, encoding="utf-8") as f:
            for line in f.read().split("\n"):
                line = line.rstrip("\r")
                if line:
                    label, text = line.split("\t", 1)
                    yield dict(post_id="", author_name="", content=text, label=label, source=name)
def norm(r):
    for k in ("post_id", "author_name", "author_email", "author_url"):
        r.setdefault(k, "")
    return r
def same(text):
    return " ".join(w.lower() for w in text.split())
rows = [norm(r) for p in files for r in rows_of(p)]
stream = [r for r in rows if r["source"] == held]
if not stream:
    sys.exit(f"no source {held}")
if not any(p.endswith(".csv") or "SMSSpam" in p for p in files if held in os.path.basename(p)):
    random.Random(1).shuffle(stream)
seen = {same(r["content"]) for r in stream}
train = [r for r in rows if r["source"] != held and same(r["content"]) not in seen]
half = len(stream) // 2
def write(name, part):
    with open(os.path.join(work, name + ".jsonl"), "w", encoding="utf-8") as f:
        for r in part:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
write("train", train); write("stream", stream); write("second", stream[half:])
write("refit", train + stream[:half])
PY
sources=("$@")
if [ ${#sources[@]} -eq 0 ]; then
  sources=(Youtube01-Psy Youtube02-KatyPerry Youtube03-LMFAO Youtube04-Eminem SMSSpamCollection)
  for f in "$corpus"/*.jsonl; do sources+=("$(basename "$f" .jsonl)"); done
fi

# Serves $1 on a fresh store, runs `replay` with the rest of the arguments, prints its JSON.
serve_and_replay() {
  local model=$1
  shift
  rm -rf "$work/db"
  "$bin" serve --listen 127.0.0.1:0 --http-listen off --data-dir "$work/db" \
    --model "$model" --moderator-token "loso=$token" >"$work/stdout" 2>/dev/null &
  server=$!
  for _ in $(seq 400); do grep -q listening "$work/stdout" 2>/dev/null && break; sleep 0.05; done
  "$bin" replay --addr "http://$(awk '/listening/ {print $NF}' "$work/stdout")" --json "$@"
  kill "$server"
  wait "$server" 2>/dev/null || true
  server=
}

: >"$out/feedback-loso.jsonl"
printf '%-20s %6s | %-15s | %-15s | %-15s | %s\n' source rows "static mcc/ham%" "feedback" "refit" "to MCC 0.8: records (corrections)"
for held in "${sources[@]}"; do
  python3 "$work/split.py" "$held" "$work" "${files[@]}"
  "$bin" train --dataset "$work/train.jsonl" --folds 0 --out "$work/model.json" >/dev/null 2>&1
  "$bin" train --dataset "$work/refit.jsonl" --folds 0 --out "$work/refit.json" >/dev/null 2>&1
  serve_and_replay "$work/model.json" --dataset "$work/second.jsonl" --unary >"$work/static.json"
  serve_and_replay "$work/model.json" --dataset "$work/stream.jsonl" --feedback --token "$token" >"$work/feedback.json"
  serve_and_replay "$work/refit.json" --dataset "$work/second.jsonl" --unary >"$work/refit-run.json"
  python3 - "$held" "$work" "$out/feedback-loso.jsonl" <<'PY'
import json, sys
held, work, out = sys.argv[1:]
load = lambda n: json.load(open(f"{work}/{n}.json"))
static, feedback, refit = load("static"), load("feedback"), load("refit-run")
reach = next((w for w in feedback["windows"] if w["total"] >= 50 and w["mcc"] >= 0.8), None)
rows = feedback["windows"][-1]["end"] if feedback["windows"] else 0
row = dict(source=held, rows=rows,
           static_second_half=dict(mcc=static["mcc"], ham_flagged=static["ham_false_positive_rate"], recall=static["recall"]),
           feedback_second_half=dict(mcc=feedback["second_half"]["mcc"], ham_flagged=feedback["second_half"]["ham_false_positive_rate"], recall=feedback["second_half"]["recall"]),
           refit_second_half=dict(mcc=refit["mcc"], ham_flagged=refit["ham_false_positive_rate"], recall=refit["recall"]),
           corrections=feedback["corrections"],
           reached_0_8=None if reach is None else dict(records=reach["end"], corrections=reach["corrections"]),
           windows=feedback["windows"])
open(out, "a").write(json.dumps(row) + "\n")
f = lambda m: "%.3f / %5.2f" % (m["mcc"], 100 * m["ham_flagged"])
r = "never" if reach is None else "%d (%d)" % (reach["end"], reach["corrections"])
print("%-20s %6s | %-15s | %-15s | %-15s | %s" % (held, rows, f(row["static_second_half"]), f(row["feedback_second_half"]), f(row["refit_second_half"]), r))
PY
done
