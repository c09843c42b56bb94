#!/usr/bin/env bash
# The benchmark: release-built nodes pinned to CPU 0, the load generator and
# Redis pinned to CPU 1, a fixed scenario set, server RSS and CPU time read
# from /proc, results written to docs/benchmarks.md.
#
#   loadtest/bench.sh            # full run (about 3 minutes)
#   IDLE_N=2000 loadtest/bench.sh   # smaller idle run
#   SERVER_BIN=/path/to/switchboard OUT=/tmp/b.md loadtest/bench.sh
#                                   # an already-built server (say, another
#                                   # commit's) against this load generator
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out=${OUT:-docs/benchmarks.md}
IDLE_N=${IDLE_N:-10000}
. loadtest/bench-lib.sh
tck=$(getconf CLK_TCK)

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

start_node() { # start_node NAME PORT [env...] → prints pid
  local name=$1 port=$2; shift 2
  env SB_PORT="$port" SB_HOST=127.0.0.1 SB_NODE_ID="$name" SB_LOG=warn "$@" \
    taskset -c "$SERVER_CPU" "$server_bin" >"$work/$name.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.1; done
  echo "$pid"
}

stop_node() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

load() { taskset -c "$LOAD_CPU" "$load_bin" --quiet --json "$@"; }

rport=$(free_port)
taskset -c "$LOAD_CPU" redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no >"$work/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis="redis://127.0.0.1:$rport"

results="$work/results.tsv"
: >"$results"
record() { printf '%s\t%s\n' "$1" "$2" >>"$results"; }

echo "1/6 idle connections ($IDLE_N)" >&2
p=$(free_port); pid=$(start_node idle "$p")
sleep 1
base_rss=$(rss_kb "$pid")
load idle --url "http://127.0.0.1:$p" --n "$IDLE_N" --seconds 15 --connect-rate 2000 >"$work/idle.json" &
lpid=$!
sleep $(( IDLE_N / 2000 + 10 ))
held_rss=$(rss_kb "$pid")
wait "$lpid" || true
stop_node "$pid"
record idle "$(cat "$work/idle.json")"
record idle_rss "$base_rss $held_rss"

echo "2/6 fan-out, one node, 1000 members" >&2
p=$(free_port); pid=$(start_node fan "$p" SB_SOCKET_BUFFER=100000)
for rate in 50 320; do
  t0=$(cpu_ticks "$pid")
  load fanout --url "http://127.0.0.1:$p" --rooms 1 --members 1000 --rate "$rate" --seconds 10 --max-error-rate 1 >"$work/fan$rate.json" || true
  t1=$(cpu_ticks "$pid")
  record "fanout_$rate" "$(cat "$work/fan$rate.json")"
  record "fanout_${rate}_cpu" "$(( t1 - t0 ))"
done
stop_node "$pid"

echo "3/6 direct pairs on Redis, one node" >&2
p=$(free_port); pid=$(start_node direct "$p" SB_REDIS_URL="$redis" SB_REDIS_PREFIX=bd:)
t0=$(cpu_ticks "$pid")
load direct --url "http://127.0.0.1:$p" --pairs 500 --rate 10000 --seconds 10 --max-error-rate 1 >"$work/direct.json" || true
t1=$(cpu_ticks "$pid")
stop_node "$pid"
record direct "$(cat "$work/direct.json")"
record direct_cpu "$(( t1 - t0 ))"

echo "4/6 fan-out over two nodes through Redis" >&2
pa=$(free_port); pb=$(free_port)
ida=$(start_node two-a "$pa" SB_REDIS_URL="$redis" SB_REDIS_PREFIX=b2: SB_SOCKET_BUFFER=100000)
idb=$(start_node two-b "$pb" SB_REDIS_URL="$redis" SB_REDIS_PREFIX=b2: SB_SOCKET_BUFFER=100000)
load fanout --url "http://127.0.0.1:$pa" --url "http://127.0.0.1:$pb" --rooms 1 --members 1000 --rate 82 --seconds 10 --max-error-rate 1 >"$work/two.json" || true
stop_node "$ida"; stop_node "$idb"
record two_nodes "$(cat "$work/two.json")"

echo "5/6 churn" >&2
p=$(free_port); pid=$(start_node churn "$p")
load churn --url "http://127.0.0.1:$p" --concurrency 20 --seconds 10 --max-error-rate 1 >"$work/churn.json" || true
stop_node "$pid"
record churn "$(cat "$work/churn.json")"

echo "6/6 bot round trips on Redis, one node, built-in automation backend" >&2
p=$(free_port); bp=$(free_port)
export SB_API_KEY="bench-api-key-0123456789abcdef" SB_ADMIN_KEY="bench-admin-key-0123456789abcdef"
export SB_WEBHOOK_SECRET="bench-hook-secret-0123456789abcdef"
pid=$(start_node bot "$p" SB_REDIS_URL="$redis" SB_REDIS_PREFIX=bb: SB_WEBHOOK_URL="http://127.0.0.1:$bp/hook")
t0=$(cpu_ticks "$pid")
load bot --url "http://127.0.0.1:$p" --listen "127.0.0.1:$bp" --users 200 --rate 5000 --seconds 10 --max-error-rate 1 >"$work/bot.json" || true
t1=$(cpu_ticks "$pid")
stop_node "$pid"
record bot "$(cat "$work/bot.json")"
record bot_cpu "$(( t1 - t0 ))"

python3 - "$results" "$out" "$IDLE_N" "$tck" <<'PY'
import json, sys, subprocess, datetime
res = {}
for line in open(sys.argv[1]):
    k, v = line.rstrip('\n').split('\t', 1)
    res[k] = v
out, idle_n, tck = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
j = lambda k: json.loads(res[k]) if res.get(k, '').startswith('{') else {}
cpu = open('/proc/cpuinfo').read()
model = next((l.split(':', 1)[1].strip() for l in cpu.splitlines() if l.startswith('model name')), '?')
ncpu = subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()
mem = open('/proc/meminfo').readline().split()[1]
idle = j('idle'); base, held = map(int, res['idle_rss'].split())
per_conn_kb = (held - base) / max(idle.get('connections', 0), 1)
def lat(r, k): l = r.get(k, {}); return f"p50 {l.get('p50_ms', 0):.2f} / p99 {l.get('p99_ms', 0):.2f} / max {l.get('max_ms', 0):.2f} ms"
def us_per_delivery(r, ticks):
    d = r.get('delivered', 0)
    return (int(ticks) / tck * 1e6 / d) if d else float('nan')
f50, f300, d, two, ch, bot = j('fanout_50'), j('fanout_320'), j('direct'), j('two_nodes'), j('churn'), j('bot')
def mark(ok): return 'met' if ok else '**not met**'
import os
MARK = '<!-- analysis'
kept = ''
if os.path.exists(out):
    old = open(out).read()
    if MARK in old:
        kept = old[old.index(MARK):]
rows = [
  ('Idle: RSS per WebSocket connection above baseline', f"{per_conn_kb:.1f} KB ({idle.get('connections',0)} held, {idle.get('connect_errors',0)} failed, {idle.get('disconnects',0)} dropped)", '≤ 8 KB', mark(per_conn_kb <= 8)),
  ('Fan-out 1×1000, one node, 320 publishes/s offered (319,680 deliveries/s)', f"{f300.get('delivered_per_s',0):,.0f} deliveries/s, delivery {lat(f300,'delivery_latency')}, {f300.get('delivered',0)} of {f300.get('expected_deliveries',0)}", '≥ 300,000/s, p99 < 50 ms', mark(f300.get('delivered_per_s',0) >= 300000 and f300.get('delivery_latency',{}).get('p99_ms',1e9) < 50)),
  ('Server CPU per delivery at 50 publishes/s (≈50k deliveries/s)', f"{us_per_delivery(f50, res['fanout_50_cpu']):.2f} µs ({f50.get('delivered_per_s',0):,.0f} deliveries/s, delivery {lat(f50,'delivery_latency')})", '≤ 10 µs', mark(us_per_delivery(f50, res['fanout_50_cpu']) <= 10)),
  ('Direct pairs on Redis, one node, 10,000 msg/s offered', f"{d.get('acked',0)/max(d.get('duration_s',1),1):,.0f} acked msg/s, ack {lat(d,'ack_latency')}, errors {d.get('ack_errors',0)}", '≥ 10,000 msg/s, ack p99 < 20 ms', mark(d.get('acked',0)/max(d.get('duration_s',1),1) >= 10000*0.99 and d.get('ack_latency',{}).get('p99_ms',1e9) < 20)),
  ('Fan-out 1×1000 over two nodes through Redis, 82 publishes/s offered (81,918 deliveries/s)', f"{two.get('delivered_per_s',0):,.0f} deliveries/s, delivery {lat(two,'delivery_latency')}, {two.get('delivered',0)} of {two.get('expected_deliveries',0)}", '≥ 80,000/s, p99 < 50 ms', mark(two.get('delivered_per_s',0) >= 80000*0.99 and two.get('delivery_latency',{}).get('p99_ms',1e9) < 50)),
  ('Bot round trips on Redis, one node, 200 users, 5,000 msg/s offered (user → webhook → reply → user)', f"{bot.get('delivered',0)/max(bot.get('duration_s',1),1):,.0f} round trips/s, {us_per_delivery(bot, res.get('bot_cpu', 0)):.0f} µs node CPU each, round trip {lat(bot,'delivery_latency')}, {bot.get('delivered',0)} of {bot.get('sent',0)} back, {bot.get('bad_signatures',0)} bad signatures, {bot.get('duplicates',0)} duplicates", '≥ 5,000/s, p99 < 50 ms, ≤ 100 µs', mark(bot.get('delivered',0)/max(bot.get('duration_s',1),1) >= 5000*0.99 and bot.get('delivery_latency',{}).get('p99_ms',1e9) < 50)),
  ('Churn, 20 loops', f"{ch.get('cycles',0)/max(ch.get('duration_s',1),1):,.0f} connect+disconnect cycles/s, handshake {lat(ch,'handshake')}", '—', '—'),
]
with open(out, 'w') as f:
    f.write(f"""# Benchmarks

Generated by `loadtest/bench.sh` on {datetime.date.today()}.

**Machine:** {model}, {ncpu} cores, {int(mem)//1024//1024} GiB RAM. Release build.
The node (or both nodes) pinned to CPU 0 with `taskset`; the load generator
and Redis pinned to CPU 1. One load-generator process (the open-file limit
here is 20,000 per process, enough for the 10,000-connection idle run; more
connections need several `switchboard-loadtest` processes and several
`--source-ip` addresses).

**Command:** `loadtest/bench.sh` (writes this file). Each row's raw JSON
report is below the table.

| scenario | result | target | |
| --- | --- | --- | --- |
""")
    for r in rows:
        f.write('| ' + ' | '.join(r) + ' |\n')
    f.write('\n## Raw reports\n\n```\n')
    for k in ['idle', 'fanout_50', 'fanout_320', 'direct', 'two_nodes', 'churn', 'bot']:
        f.write(f"{k}: {res.get(k, '')}\n")
    f.write(f"idle RSS (KB) baseline/held: {res['idle_rss']}\n")
    f.write(f"server CPU ticks (1/{tck} s): fanout_50 {res['fanout_50_cpu']}, fanout_320 {res['fanout_320_cpu']}, direct {res['direct_cpu']}, bot {res.get('bot_cpu', '')}\n")
    f.write('```\n')
    if kept:
        f.write('\n' + kept)
print(open(out).read())
PY
