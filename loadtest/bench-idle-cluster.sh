#!/usr/bin/env bash
# Many idle connections over several nodes on one Redis: by default six
# release-built nodes of 16,700 connections each (100,200 in all), each
# node with its own load-generator process and its own source address
# (127.0.0.2, 127.0.0.3, …), because a process here may hold at most 20,000
# open files and one address pair has about 28,000 ephemeral ports. The
# nodes run on CPU 0; Redis and the generators on CPU 1. Reports, once all
# connections are up: RSS per node and per connection, handshake p50/p99
# per generator, Redis memory per connection, and the CPU the nodes and
# Redis spend while the connections idle (pings every SB_PING_INTERVAL).
#
#   loadtest/bench-idle-cluster.sh                  # about 3 minutes
#   NODES=3 PER_NODE=10000 loadtest/bench-idle-cluster.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
NODES=${NODES:-6}
PER_NODE=${PER_NODE:-16700}
# Handshakes per second per generator. Six generators at 250/s (1,500/s in
# all) is what one node core here takes with room to spare: at 1,000/s each
# the nodes fell behind, handshakes timed out and held sockets missed pings.
RAMP_RATE=${RAMP_RATE:-250}
IDLE_WINDOW=${IDLE_WINDOW:-30}
. loadtest/bench-lib.sh

rport=$(free_port)
mkdir -p "$work/redis"
taskset -c "$LOAD_CPU" redis-server --port "$rport" --bind 127.0.0.1 --dir "$work/redis" \
  --save "" --appendonly no --protected-mode no >"$work/redis.log" 2>&1 &
rpid=$!
pids+=("$rpid")
for _ in $(seq 1 50); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis_mem() { redis-cli -p "$rport" info memory | awk -F: '/^used_memory:/ {print $2 + 0}'; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

nodes=(); ports=()
for i in $(seq 1 "$NODES"); do
  port=$(free_port)
  env SB_PORT="$port" SB_HOST=127.0.0.1 SB_NODE_ID="idle-$i" SB_LOG=warn \
    SB_REDIS_URL="redis://127.0.0.1:$rport" SB_REDIS_PREFIX=idle: \
    taskset -c "$SERVER_CPU" "$server_bin" >"$work/node$i.log" 2>&1 &
  nodes+=($!); ports+=("$port"); pids+=($!)
done
for port in "${ports[@]}"; do
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.1; done
done
sleep 1
base_rss=(); for p in "${nodes[@]}"; do base_rss+=("$(rss "$p")"); done
mem0=$(redis_mem)

# Each generator holds from the end of its own ramp: long enough for the
# slowest ramp (its own at RAMP_RATE, with half again as slack) and the idle
# window.
hold=$(( PER_NODE * 3 / (RAMP_RATE * 2) + IDLE_WINDOW + 10 ))
gens=()
for i in $(seq 1 "$NODES"); do
  taskset -c "$LOAD_CPU" "$load_bin" --quiet --json --source-ip "127.0.0.$((i + 1))" idle \
    --url "http://127.0.0.1:${ports[$((i - 1))]}" --n "$PER_NODE" --seconds "$hold" \
    --connect-rate "$RAMP_RATE" >"$work/gen$i.json" 2>"$work/gen$i.err" &
  gens+=($!); pids+=($!)
done
echo "ramping $NODES × $PER_NODE connections at $RAMP_RATE/s per generator" >&2
# Wait until the nodes hold them all (their switchboard_connections gauges),
# or until the generators would start closing.
connected() {
  local sum=0 n
  for port in "${ports[@]}"; do
    n=$(curl -sf "http://127.0.0.1:$port/metrics" | awk '/^switchboard_connections / {print int($2)}')
    sum=$(( sum + ${n:-0} ))
  done
  echo "$sum"
}
for _ in $(seq 1 "$(( hold - IDLE_WINDOW - 5 ))"); do
  [ "$(connected)" -ge "$(( NODES * PER_NODE ))" ] && break
  sleep 1
done
echo "holding $(connected) connections" >&2
held_rss=(); for p in "${nodes[@]}"; do held_rss+=("$(rss "$p")"); done
mem1=$(redis_mem)
n0=0; for p in "${nodes[@]}"; do n0=$(( n0 + $(ticks "$p") )); done
r0=$(ticks "$rpid")
sleep "$IDLE_WINDOW"
n1=0; for p in "${nodes[@]}"; do n1=$(( n1 + $(ticks "$p") )); done
r1=$(ticks "$rpid")
for g in "${gens[@]}"; do wait "$g" || true; done

python3 - "$work" "$NODES" "$PER_NODE" "$IDLE_WINDOW" "$(getconf CLK_TCK)" \
  "${base_rss[*]}" "${held_rss[*]}" "$mem0" "$mem1" "$n0" "$n1" "$r0" "$r1" <<'PY'
import json, sys
work, nodes, per, window, hz = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
base = [int(x) for x in sys.argv[6].split()]
held = [int(x) for x in sys.argv[7].split()]
mem0, mem1, n0, n1, r0, r1 = (int(x) for x in sys.argv[8:14])
gens = []
for i in range(1, nodes + 1):
    try:
        gens.append(json.loads(open(f"{work}/gen{i}.json").read().strip().splitlines()[-1]))
    except Exception:
        gens.append({})
conns = [g.get('connections', 0) for g in gens]
total = sum(conns)
print(f"{nodes} nodes × {per:,} idle connections offered on one Redis: {total:,} held\n")
print("| node | held | RSS MB | RSS per connection KB | handshake p50 / p99 ms | connect errors | dropped |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for i, g in enumerate(gens):
    hs = g.get('handshake', {})
    per_conn = (held[i] - base[i]) / max(conns[i], 1)
    print(f"| {i + 1} | {conns[i]:,} | {held[i] / 1024:.0f} | {per_conn:.1f} | "
          f"{hs.get('p50_ms', 0):.2f} / {hs.get('p99_ms', 0):.2f} | {g.get('connect_errors', 0)} | {g.get('disconnects', 0)} |")
print()
print(f"Redis memory per connection: {(mem1 - mem0) / max(total, 1):.0f} bytes ({(mem1 - mem0) / 2**20:.1f} MB in all)")
print(f"CPU while idle ({window} s window): all nodes {(n1 - n0) / hz / window * 100:.1f} % of a core; "
      f"Redis {(r1 - r0) / hz / window * 100:.1f} %")
PY
