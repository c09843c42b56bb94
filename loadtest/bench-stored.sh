#!/usr/bin/env bash
# The stored-message path on one node and one Redis: what a stored 1:1
# message costs. The `direct` scenario (PAIRS one-to-one chats, a clientId on
# every message, each message stored, acked, then delivered to the peer) at
# RATE msg/s offered, on one release-built node pinned to CPU 0; Redis and
# the load generator share CPU 1. For each run it reads:
#   - acked msg/s and ack p50/p99 from the generator;
#   - node CPU per acked message (the node's utime+stime over the run);
#   - Redis CPU per acked message (INFO cpu, main thread + I/O), and Redis
#     commands per message from INFO commandstats (calls and usec).
# Three runs by default; prints the median and the spread [min–max].
# FLAMEGRAPH=out.svg also records the node with `perf` during the last run
# and folds it with inferno (`cargo install inferno`).
#
#   loadtest/bench-stored.sh                       # about 1 minute
#   RATE=15000 RUNS=3 loadtest/bench-stored.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
RATE=${RATE:-15000}
RUNS=${RUNS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
PAIRS=${PAIRS:-500}
. loadtest/bench-lib.sh

start_bench_redis
hz=$(getconf CLK_TCK)

for i in $(seq 1 "$RUNS"); do
  echo "run $i/$RUNS" >&2
  port=$(free_port)
  env SB_PORT="$port" SB_HOST=127.0.0.1 SB_LOG=warn SB_REDIS_URL="redis://127.0.0.1:$rport" \
    SB_REDIS_PREFIX="s$i:" taskset -c "$SERVER_CPU" "$server_bin" >"$work/node$i.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.1; done
  # The generator connects and creates its chats first; count from when it
  # starts sending (its first line on stderr is printed then).
  taskset -c "$LOAD_CPU" "$load_bin" --json direct --url "http://127.0.0.1:$port" \
    --pairs "$PAIRS" --rate "$RATE" --seconds "$SECONDS_PER_RUN" --max-error-rate 100 \
    >"$work/run$i.json" 2>"$work/run$i.err" &
  lpid=$!
  for _ in $(seq 1 600); do grep -q "sent" "$work/run$i.err" 2>/dev/null && break; sleep 0.05; done
  redis-cli -p "$rport" config resetstat >/dev/null
  n0=$(cpu_ticks "$pid"); r0=$(redis_cpu)
  a0=$(tr '\r' '\n' <"$work/run$i.err" | awk '/^sent/ {a = $4} END {print a + 0}')
  perf_pid=
  if [ -n "${FLAMEGRAPH:-}" ] && [ "$i" = "$RUNS" ]; then
    perf record -F 299 --call-graph dwarf,32768 -p "$pid" -o "$work/perf.data" -- sleep "$((SECONDS_PER_RUN - 2))" >/dev/null 2>&1 &
    perf_pid=$!
  fi
  wait "$lpid" || true
  n1=$(cpu_ticks "$pid"); r1=$(redis_cpu)
  redis-cli -p "$rport" info commandstats >"$work/cmd$i.txt"
  [ -n "$perf_pid" ] && wait "$perf_pid" || true
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "$n0 $n1 $r0 $r1 $hz $a0" >"$work/cpu$i.txt"
done

if [ -n "${FLAMEGRAPH:-}" ]; then
  perf script -i "$work/perf.data" 2>/dev/null | inferno-collapse-perf | inferno-flamegraph \
    --title "switchboard: stored 1:1 messages, $RATE msg/s offered" >"$FLAMEGRAPH"
  echo "flamegraph: $FLAMEGRAPH" >&2
fi

python3 - "$work" "$RUNS" "$RATE" "$PAIRS" "$SECONDS_PER_RUN" <<'PY'
import json, re, statistics, sys
work, runs, rate, pairs, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
rows = []
for i in range(1, runs + 1):
    try:
        r = json.loads(open(f"{work}/run{i}.json").read().strip().splitlines()[-1])
    except Exception:
        continue
    n0, n1, r0, r1, hz, a0 = open(f"{work}/cpu{i}.txt").read().split()
    # Acked while measured: the generator's count when counting began.
    acked = max(r.get('acked', 0) - int(a0), 1)
    cmds = {}
    for line in open(f"{work}/cmd{i}.txt"):
        m = re.match(r'cmdstat_([^:]+):calls=(\d+),usec=(\d+)', line)
        if m:
            cmds[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    top = sorted(cmds.items(), key=lambda kv: -kv[1][1])[:6]
    rows.append({
        'rate': r.get('acked', 0) / max(r.get('duration_s', 1), 1e-9),
        'p50': r.get('ack_latency', {}).get('p50_ms', 0),
        'p99': r.get('ack_latency', {}).get('p99_ms', 0),
        'errors': r.get('ack_errors', 0),
        'node_us': (int(n1) - int(n0)) / int(hz) * 1e6 / acked,
        'redis_us': (float(r1) - float(r0)) * 1e6 / acked,
        'cmds': ', '.join(f"{k} {c / acked:.2f}/msg {u / max(c, 1):.1f} µs" for k, (c, u) in top),
    })
def col(key, fmt):
    v = [r[key] for r in rows]
    return f"{fmt(statistics.median(v))} [{fmt(min(v))}–{fmt(max(v))}]" if v else 'n/a'
print(f"direct: {pairs} chats, {rate:,} msg/s offered for {secs} s, a clientId on every message; "
      f"one node (CPU 0), one Redis; median of {len(rows)} runs [min–max]\n")
print("| acked msg/s | ack p50 ms | ack p99 ms | ack errors | node CPU µs/msg | Redis CPU µs/msg |")
print("| --- | --- | --- | --- | --- | --- |")
f0 = lambda x: f"{x:,.0f}"
f1 = lambda x: f"{x:.1f}"
f2 = lambda x: f"{x:.2f}"
print(f"| {col('rate', f0)} | {col('p50', f2)} | {col('p99', f2)} | {col('errors', f0)} | "
      f"{col('node_us', f1)} | {col('redis_us', f1)} |")
print()
for n, r in enumerate(rows, 1):
    print(f"run {n} Redis commands: {r['cmds']}")
PY
