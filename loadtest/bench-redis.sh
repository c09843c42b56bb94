#!/usr/bin/env bash
# Stored messages on three Redis topologies: a single Redis, a 3-master Redis
# Cluster (3 masters + 3 replicas), and a master + replica with
# SB_REDIS_WAIT_REPLICAS=1. The same load each time: the `direct` scenario
# (500 one-to-one chats, a clientId on every message, each message stored
# and acked, then delivered to the peer) at a fixed offered rate, on one
# release-built node pinned to CPU 0; Redis and the load generator on CPU 1.
# Three runs per topology, interleaved; prints the median and the spread.
#
#   loadtest/bench-redis.sh                 # about 3 minutes
#   RATE=20000 RUNS=3 loadtest/bench-redis.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
RATE=${RATE:-12000}
RUNS=${RUNS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
PAIRS=${PAIRS:-500}
. loadtest/bench-lib.sh

redis() { # redis PORT [args...] → starts a redis-server on CPU 1
  local port=$1; shift
  mkdir -p "$work/r$port"
  taskset -c "$LOAD_CPU" redis-server --port "$port" --bind 127.0.0.1 --dir "$work/r$port" \
    --save "" --appendonly no --protected-mode no "$@" >"$work/r$port.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
}

# Single Redis.
single=$(free_port); redis "$single"
# Master + replica, for WAIT.
master=$(free_port); replica=$(free_port)
redis "$master" --repl-diskless-sync-delay 0
redis "$replica" --replicaof 127.0.0.1 "$master"
for _ in $(seq 1 100); do redis-cli -p "$replica" info replication | grep -q master_link_status:up && break; sleep 0.1; done
# Cluster: 3 masters + 3 replicas.
cports=()
for _ in 1 2 3 4 5 6; do
  p=$(free_port); cports+=("$p")
  # An explicit bus port: the default, port + 10000, fails above 55535.
  redis "$p" --cluster-port "$(free_port)" --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000
done
redis-cli --cluster create $(for p in "${cports[@]}"; do printf '127.0.0.1:%s ' "$p"; done) \
  --cluster-replicas 1 --cluster-yes >"$work/cluster.log" 2>&1 || { cat "$work/cluster.log" >&2; exit 1; }
for _ in $(seq 1 100); do redis-cli -p "${cports[0]}" cluster info | grep -q cluster_state:ok && break; sleep 0.1; done
cluster_url="redis-cluster://127.0.0.1:${cports[0]}?node=127.0.0.1:${cports[1]}&node=127.0.0.1:${cports[2]}"

run() { # run NAME URL [env...] → appends one JSON line to $work/NAME.jsonl
  local name=$1 url=$2; shift 2
  local port; port=$(free_port)
  env SB_PORT="$port" SB_HOST=127.0.0.1 SB_LOG=warn SB_REDIS_URL="$url" \
    SB_REDIS_PREFIX="b$RANDOM:" "$@" taskset -c "$SERVER_CPU" "$server_bin" >"$work/$name.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.1; done
  taskset -c "$LOAD_CPU" "$load_bin" --quiet --json direct --url "http://127.0.0.1:$port" \
    --pairs "$PAIRS" --rate "$RATE" --seconds "$SECONDS_PER_RUN" --max-error-rate 100 >>"$work/$name.jsonl" || true
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

for i in $(seq 1 "$RUNS"); do
  echo "run $i/$RUNS" >&2
  run single "redis://127.0.0.1:$single"
  run cluster "$cluster_url"
  run wait1 "redis://127.0.0.1:$master" SB_REDIS_WAIT_REPLICAS=1
done

python3 - "$work" "$RATE" "$PAIRS" "$SECONDS_PER_RUN" <<'PY'
import json, sys, statistics
work, rate, pairs, secs = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
print(f"direct: {pairs} chats, {rate:,} msg/s offered for {secs} s, a clientId on every message; median of runs [min–max]\n")
print("| topology | acked msg/s | ack p50 ms | ack p99 ms | ack errors |")
print("| --- | --- | --- | --- | --- |")
names = {'single': 'single Redis', 'cluster': 'Redis Cluster, 3 masters + 3 replicas', 'wait1': 'master + replica, SB_REDIS_WAIT_REPLICAS=1'}
for key in ['single', 'cluster', 'wait1']:
    runs = [json.loads(l) for l in open(f"{work}/{key}.jsonl") if l.strip().startswith('{')]
    def col(f, fmt):
        v = [f(r) for r in runs]
        return f"{fmt(statistics.median(v))} [{fmt(min(v))}–{fmt(max(v))}]" if v else 'n/a'
    rate_of = lambda r: r.get('acked', 0) / max(r.get('duration_s', 1), 1e-9)
    print(f"| {names[key]} | {col(rate_of, lambda x: f'{x:,.0f}')} | "
          f"{col(lambda r: r.get('ack_latency', {}).get('p50_ms', 0), lambda x: f'{x:.2f}')} | "
          f"{col(lambda r: r.get('ack_latency', {}).get('p99_ms', 0), lambda x: f'{x:.2f}')} | "
          f"{col(lambda r: r.get('ack_errors', 0), lambda x: f'{x:.0f}')} |")
PY
