#!/usr/bin/env bash
# docker-compose.yml's topology as plain processes (no Docker): Redis with
# persistence, three nodes configured from the same env files
# (.env.example, then deploy/compose.env), and HAProxy from
# deploy/haproxy/haproxy.cfg. Then conformance/topology/compose.test.mjs:
# clients over WebSocket and long-polling through the balancer while one
# node drains and another is SIGKILLed. Needs redis-server, haproxy, node
# and a built binary (BIN, default target/debug/switchboard).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bin=${BIN:-$root/target/debug/switchboard}
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_http() { # wait_http URL
  for _ in $(seq 1 300); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "$1 did not answer" >&2; return 1
}

rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --appendonly yes --appendfsync everysec \
  --save "" --dir "$work" >"$work/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done

# The env files, read like compose's env_file: KEY=VALUE taken literally.
load_env() {
  local line
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in ''|'#'*) continue ;; esac
    export "${line?}"
  done <"$1"
}

start_node() { # start_node NAME PORT INTERNAL_PORT → pid in $node_pid
  (
    load_env .env.example
    load_env deploy/compose.env
    export SB_NODE_ID="$1" SB_HOST=127.0.0.1 SB_PORT="$2" SB_INTERNAL_PORT="$3" \
      SB_REDIS_URL="redis://127.0.0.1:$rport/0" SB_LOG=warn \
      SB_DRAIN_DELAY_SECS=1 SB_DRAIN_SPREAD_SECS=2 SB_SHUTDOWN_TIMEOUT_SECS=5 \
      SB_RATE_CONNECT="1000/60 open" SB_RATE_MESSAGE="10000/60 closed"
    exec "$bin"
  ) >"$work/$1.log" 2>&1 &
  node_pid=$!
  pids+=("$node_pid")
}

declare -A port internal pid
for n in a b c; do
  port[$n]=$(free_port); internal[$n]=$(free_port)
  start_node "node-$n" "${port[$n]}" "${internal[$n]}"
  pid[$n]=$node_pid
done
for n in a b c; do wait_http "http://127.0.0.1:${internal[$n]}/ready"; done

lb_port=$(free_port)
(
  export LISTEN="127.0.0.1:$lb_port"
  for n in a b c; do
    N=$(echo "$n" | tr a-z A-Z)
    export "NODE_$N=127.0.0.1:${port[$n]}" "CHECK_${N}_HOST=127.0.0.1" "CHECK_${N}_PORT=${internal[$n]}"
  done
  exec haproxy -db -f deploy/haproxy/haproxy.cfg
) >"$work/haproxy.log" 2>&1 &
pids+=($!)
lb="http://127.0.0.1:$lb_port"
wait_http "$lb/health" || { cat "$work/haproxy.log"; exit 1; }

(
  load_env deploy/compose.env
  cd conformance
  LB_URL="$lb" SB_URLS="$lb" SB_JWT_SECRET="$SB_JWT_SECRET" SB_API_KEY="$SB_API_KEY" \
    DRAIN_PID="${pid[a]}" KILL_PID="${pid[b]}" node --test topology/compose.test.mjs
) || {
  for f in "$work"/*.log; do echo "--- $f"; tail -n 40 "$f"; done
  exit 1
}
# The drained node exited by itself (no SIGKILL needed).
for _ in $(seq 1 100); do kill -0 "${pid[a]}" 2>/dev/null || break; sleep 0.1; done
if kill -0 "${pid[a]}" 2>/dev/null; then echo "the drained node did not exit" >&2; exit 1; fi
echo "compose topology: passed"
