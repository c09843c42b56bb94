#!/usr/bin/env bash
# The automation (bot) path on one node and one Redis: what a bot round
# trip costs, and where it saturates. The `bot` scenario (USERS users, each
# in a chat with one bot; a clientId on every message) at each of RATES
# msg/s offered, against one release-built node pinned to CPU 0; Redis, the
# load generator and its built-in automation backend (verifies every
# signature, answers 200 at once with one reply) share CPU 1. A round trip
# is user → node → webhook → backend → reply → node → user, measured open
# loop from the message's due time to the reply's arrival. For each run:
#   - round trips/s and round-trip p50/p99;
#   - node CPU per round trip (utime+stime over the sending phase);
#   - Redis CPU per round trip (INFO cpu) and commands per round trip
#     (INFO commandstats);
#   - the webhook queue (ready + in flight) sampled from /admin/stats;
#   - bad signatures and duplicate deliveries (both must be 0).
# After the last run it waits out the reply window (WINDOW seconds, the
# nodes' SB_WEBHOOK_REPLY_WINDOW_SECS) and reports Redis memory per round
# trip: all of it, and that of the webhook keys alone (the rest is the
# chats' stored messages, two per round trip, bounded by the history cap).
# RUNS runs per rate; prints the median and the spread [min–max].
# FLAMEGRAPH=out.svg records the node with `perf` during the last run.
#
#   loadtest/bench-bot.sh                          # about 3 minutes
#   RATES="5000" RUNS=3 loadtest/bench-bot.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
RATES=${RATES:-"1000 2000 5000"}
RUNS=${RUNS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
USERS=${USERS:-200}
WINDOW=${WINDOW:-10}
. loadtest/bench-lib.sh

export SB_API_KEY="bench-api-key-0123456789abcdef"
export SB_ADMIN_KEY="bench-admin-key-0123456789abcdef"
export SB_WEBHOOK_SECRET="bench-hook-secret-0123456789abcdef"
export SB_WEBHOOK_REPLY_WINDOW_SECS="$WINDOW"

start_bench_redis
used_memory() { redis-cli -p "$rport" info memory | awk -F: '/^used_memory:/ {print $2 + 0}'; }
hz=$(getconf CLK_TCK)
mem0=$(used_memory)

n=0
for rate in $RATES; do
  for i in $(seq 1 "$RUNS"); do
    n=$((n + 1))
    echo "rate $rate run $i/$RUNS" >&2
    port=$(free_port); bport=$(free_port)
    env SB_PORT="$port" SB_HOST=127.0.0.1 SB_LOG=warn SB_REDIS_URL="redis://127.0.0.1:$rport" \
      SB_REDIS_PREFIX="b$n:" SB_WEBHOOK_URL="http://127.0.0.1:$bport/hook" \
      taskset -c "$SERVER_CPU" "$server_bin" >"$work/node$n.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.1; done
    taskset -c "$LOAD_CPU" "$load_bin" --json bot --url "http://127.0.0.1:$port" --listen "127.0.0.1:$bport" \
      --users "$USERS" --rate "$rate" --seconds "$SECONDS_PER_RUN" --max-error-rate 100 \
      >"$work/run$n.json" 2>"$work/run$n.err" &
    lpid=$!
    for _ in $(seq 1 600); do grep -q "sent" "$work/run$n.err" 2>/dev/null && break; sleep 0.05; done
    redis-cli -p "$rport" config resetstat >/dev/null
    n0=$(cpu_ticks "$pid"); r0=$(redis_cpu)
    d0=$(tr '\r' '\n' <"$work/run$n.err" | awk '/^sent/ {d = $6} END {print d + 0}')
    perf_pid=
    if [ -n "${FLAMEGRAPH:-}" ] && [ "$rate" = "${RATES##* }" ] && [ "$i" = "$RUNS" ]; then
      perf record -F 299 --call-graph dwarf,32768 -p "$pid" -o "$work/perf.data" -- sleep "$((SECONDS_PER_RUN - 2))" >/dev/null 2>&1 &
      perf_pid=$!
    fi
    wait "$lpid" || true
    n1=$(cpu_ticks "$pid"); r1=$(redis_cpu)
    redis-cli -p "$rport" info commandstats >"$work/cmd$n.txt"
    [ -n "$perf_pid" ] && wait "$perf_pid" || true
    grep -c "lagged\|dropped" "$work/node$n.log" >"$work/lag$n.txt" || true
    kill "$pid"; wait "$pid" 2>/dev/null || true
    echo "$rate $n0 $n1 $r0 $r1 $hz $d0" >"$work/cpu$n.txt"
  done
done

# Memory once the reply window has passed (correlation records expired).
sleep $((WINDOW + 2))
mem1=$(used_memory)
wh=0
while read -r key; do
  [ -n "$key" ] || continue
  u=$(redis-cli -p "$rport" memory usage "$key" 2>/dev/null || echo 0)
  wh=$((wh + ${u:-0}))
done < <(redis-cli -p "$rport" --scan --pattern '*{wh*')
echo "$mem0 $mem1 $wh" >"$work/mem.txt"

if [ -n "${FLAMEGRAPH:-}" ]; then
  perf script -i "$work/perf.data" 2>/dev/null | inferno-collapse-perf | inferno-flamegraph \
    --title "switchboard: bot round trips, ${RATES##* } msg/s offered" >"$FLAMEGRAPH"
  echo "flamegraph: $FLAMEGRAPH" >&2
fi

python3 - "$work" "$n" "$USERS" "$SECONDS_PER_RUN" <<'PY'
import json, re, statistics, sys
from collections import defaultdict
work, total, users, secs = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
by_rate = defaultdict(list)
trips = 0
for i in range(1, total + 1):
    rate, n0, n1, r0, r1, hz, d0 = open(f"{work}/cpu{i}.txt").read().split()
    try:
        r = json.loads(open(f"{work}/run{i}.json").read().strip().splitlines()[-1])
    except Exception:
        continue
    trips += r.get('delivered', 0)
    done = max(r.get('delivered', 0) - int(d0), 1)
    cmds = {}
    for line in open(f"{work}/cmd{i}.txt"):
        m = re.match(r'cmdstat_([^:]+):calls=(\d+),usec=(\d+)', line)
        if m:
            cmds[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    top = sorted(cmds.items(), key=lambda kv: -kv[1][1])[:14]
    lat = r.get('delivery_latency', {})
    by_rate[int(rate)].append({
        'rate': r.get('delivered', 0) / max(r.get('duration_s', 1), 1e-9),
        'p50': lat.get('p50_ms', 0),
        'p99': lat.get('p99_ms', 0),
        'lost': max(r.get('sent', 0) - r.get('delivered', 0), 0),
        'node_us': (int(n1) - int(n0)) / int(hz) * 1e6 / done,
        'redis_us': (float(r1) - float(r0)) * 1e6 / done,
        'queue': r.get('queue_max', 0),
        'bad': r.get('bad_signatures', 0) + r.get('duplicates', 0),
        'lag': int(open(f"{work}/lag{i}.txt").read().strip() or 0),
        'cmds': ', '.join(f"{k} {c / done:.2f}/trip {u / max(c, 1):.1f} µs" for k, (c, u) in top),
    })
def col(rows, key, fmt):
    v = [r[key] for r in rows]
    return f"{fmt(statistics.median(v))} [{fmt(min(v))}–{fmt(max(v))}]" if v else 'n/a'
f0 = lambda x: f"{x:,.0f}"
f1 = lambda x: f"{x:.1f}"
print(f"bot: {users} users each in a chat with one bot, {secs} s per run, a clientId on every message; "
      f"one node (CPU 0), one Redis + generator + backend (CPU 1); median [min–max] of the runs\n")
print("| offered msg/s | round trips/s | p50 ms | p99 ms | not back in time | node CPU µs/trip | Redis CPU µs/trip | queue max | bad sig + dup | lag log lines |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for rate, rows in sorted(by_rate.items()):
    print(f"| {rate:,} | {col(rows, 'rate', f0)} | {col(rows, 'p50', f1)} | {col(rows, 'p99', f1)} | "
          f"{col(rows, 'lost', f0)} | {col(rows, 'node_us', f0)} | {col(rows, 'redis_us', f1)} | "
          f"{col(rows, 'queue', f0)} | {col(rows, 'bad', f0)} | {col(rows, 'lag', f0)} |")
print()
for rate, rows in sorted(by_rate.items()):
    print(f"{rate:,} msg/s, last run, Redis commands: {rows[-1]['cmds']}")
mem0, mem1, wh = (int(x) for x in open(f"{work}/mem.txt").read().split())
if trips:
    print(f"\nRedis memory after the reply window, per round trip ({trips:,} round trips): "
          f"all keys {(mem1 - mem0) / trips:.0f} B (stored messages included), webhook keys {wh / trips:.1f} B")
PY
