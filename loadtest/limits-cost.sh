#!/usr/bin/env bash
# What the rate limiter costs: one node on Redis, acked direct messages,
# limits off vs on (budgets too large to refuse anything), two rounds.
# Server pinned to CPU 0, generator and Redis to CPU 1. Build first:
#   cargo build --release -p switchboard --bin switchboard -p switchboard-loadtest
set -u
cd "$(dirname "$0")/.."
bin=target/release/switchboard
lt=target/release/switchboard-loadtest
export SB_JWT_SECRET="bench-secret-0123456789abcdef0123"
rport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
taskset -c 1 redis-server --port "$rport" --save "" --appendonly no --daemonize yes --logfile /dev/null >/dev/null
trap 'redis-cli -p "$rport" shutdown nosave >/dev/null 2>&1' EXIT
sleep 0.5
run() { # run LABEL env...
  local label=$1; shift
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  env SB_PORT="$port" SB_HOST=127.0.0.1 SB_LOG=warn SB_REDIS_URL="redis://127.0.0.1:$rport" \
    SB_REDIS_PREFIX="$label:" SB_MAX_CONNECTIONS_PER_USER=100000 SB_RATE_CONNECT=off "$@" \
    taskset -c 0 "$bin" >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.1; done
  local t0 t1
  t0=$(awk '{print $14+$15}' "/proc/$pid/stat")
  local report
  report=$(taskset -c 1 "$lt" --url "http://127.0.0.1:$port" --json --quiet direct --pairs 100 --rate 3000 --seconds 10)
  t1=$(awk '{print $14+$15}' "/proc/$pid/stat")
  kill "$pid"; wait "$pid" 2>/dev/null
  echo "$report" | python3 -c "import json,sys; r=json.load(sys.stdin); print('$label', 'server_cpu_s', ($t1-$t0)/100, 'acked', r['acked'], 'errors', r['ack_errors'], 'ack_p50_ms', r['ack_latency']['p50_ms'], 'ack_p99_ms', r['ack_latency']['p99_ms'])"
}
on=(SB_RATE_MESSAGE="1000000/60 closed" SB_RATE_OTHER=1000000/60 SB_RATE_RECEIPT=1000000/60 SB_RATE_TYPING=1000000/60)
off=(SB_RATE_MESSAGE=off SB_RATE_OTHER=off SB_RATE_RECEIPT=off SB_RATE_TYPING=off)
for i in 1 2; do
  run "off$i" "${off[@]}"
  run "on$i" "${on[@]}"
done
