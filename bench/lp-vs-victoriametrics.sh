#!/bin/sh
# Line protocol ingestion, arc-ts vs VictoriaMetrics (Debian package `victoria-metrics`), same session:
# ROUNDS alternating fresh servers, the same `arc bench --mode lp` load (1000-line batches of
# `cpu,host=serverNNN value=…,cpu_idle=…,cpu_user=… <ns>`), medians printed at the end.
#   sh bench/lp-vs-victoriametrics.sh [rounds] [seconds] [connections]
set -eu
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}; SECONDS_PER_RUN=${2:-20}; WORKERS=${3:-3}
OUT=$(mktemp -d /tmp/arc-lp-vs-vm.XXXXXX)
ARC="node dist/src/cli/arc.js"
for round in $(seq 1 "$ROUNDS"); do
  data=$(mktemp -d /tmp/arc-lp-data.XXXXXX)
  ARC_SERVER_HOST=127.0.0.1 ARC_SERVER_PORT=18100 ARC_STORAGE_LOCAL_PATH="$data" ARC_AUTH_ENABLED=false ARC_AUTH_DB_PATH="$data.db" ARC_LOG_LEVEL=warn node --max-semi-space-size=4 dist/src/cli/arc.js serve > "$OUT/arc-$round.log" 2>&1 &
  pid=$!
  # Start-up includes the write-path warm-up (about a second): wait until it answers.
  until curl -sf http://127.0.0.1:18100/ready > /dev/null; do sleep 0.1; done
  $ARC bench --mode lp --url http://127.0.0.1:18100 --pid "$pid" --data "$data" --duration "$SECONDS_PER_RUN" --workers "$WORKERS" --quiet --json "$OUT/arc-$round.json" > /dev/null
  kill -TERM "$pid"; wait "$pid" || true; rm -rf "$data" "$data.db"

  data=$(mktemp -d /tmp/vm-data.XXXXXX)
  victoria-metrics -storageDataPath="$data" -httpListenAddr=127.0.0.1:18101 -loggerLevel=ERROR > "$OUT/vm-$round.log" 2>&1 &
  pid=$!; sleep 2
  $ARC bench --mode lp --url http://127.0.0.1:18101 --path /write --pid "$pid" --data "$data" --duration "$SECONDS_PER_RUN" --workers "$WORKERS" --quiet --json "$OUT/vm-$round.json" > /dev/null
  kill -TERM "$pid"; wait "$pid" || true; rm -rf "$data" "$data.db"
done
node -e '
const fs = require("fs"); const dir = process.argv[1];
const load = (p) => fs.readdirSync(dir).filter((f) => f.startsWith(p) && f.endsWith(".json")).map((f) => JSON.parse(fs.readFileSync(dir + "/" + f)));
const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rows = [["lines/s", (r) => r.records_per_sec], ["p50 ms", (r) => r.latency_ms.p50], ["p95 ms", (r) => r.latency_ms.p95], ["p99 ms", (r) => r.latency_ms.p99], ["server CPU %", (r) => r.server.cpu_percent], ["server peak RSS MB", (r) => r.server.peak_rss_mb], ["bench CPU %", (r) => r.bench.cpu_percent], ["errors", (r) => Object.values(r.errors).reduce((a, b) => a + b, 0)]];
const a = load("arc-"), b = load("vm-");
console.log("| | arc-ts | VictoriaMetrics | arc-ts / VM |\n|---|---|---|---|");
for (const [name, get] of rows) { const x = med(a.map(get)), y = med(b.map(get)); const f = (v) => v >= 1000 ? Math.round(v).toLocaleString("en-US") : v.toFixed(2);
  console.log(`| ${name} | ${f(x)} (${a.map(get).map(f).join(" / ")}) | ${f(y)} (${b.map(get).map(f).join(" / ")}) | ${y ? (x / y).toFixed(2) : "n/a"} |`); }
console.log("reports: " + dir);
' "$OUT"
