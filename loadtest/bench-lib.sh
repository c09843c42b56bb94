# Shared set-up of the benchmark scripts (sourced, not run): the binaries
# (built unless SERVER_BIN / LOAD_BIN name them), a work directory and the
# processes to stop on exit, free ports, and the environment every node
# gets (a secret, no rate limits, no per-user connection cap).
# Expects `root` (the repository) to be set.
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}

command -v redis-server >/dev/null || { echo "redis-server is required (apt-get install redis-server)" >&2; exit 1; }
target_dir=${CARGO_TARGET_DIR:-$root/target}
[ -n "${SERVER_BIN:-}" ] || cargo build --release --quiet --bin switchboard -p switchboard
[ -n "${LOAD_BIN:-}" ] || cargo build --release --quiet -p switchboard-loadtest
server_bin=${SERVER_BIN:-$target_dir/release/switchboard}
load_bin=${LOAD_BIN:-$target_dir/release/switchboard-loadtest}
ulimit -n "$(ulimit -Hn)"

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
export SB_JWT_SECRET="bench-secret-$(date +%s)-0123456789abcdef"
# The generator is one client IP sending in bulk: measure without limits.
for v in CONNECT MESSAGE TYPING RECEIPT PRESENCE CALL REACTION SIGNAL CHAT_CHANGE PUBLISH OTHER API INBOUND; do
  export "SB_RATE_$v=off"
done
export SB_MAX_CONNECTIONS_PER_USER=100000

# A Redis for the run on the load CPU, without persistence; sets `rport`.
start_bench_redis() {
  rport=$(free_port)
  mkdir -p "$work/redis"
  taskset -c "$LOAD_CPU" redis-server --port "$rport" --bind 127.0.0.1 --dir "$work/redis" \
    --save "" --appendonly no --protected-mode no >"$work/redis.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 50); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
}
# A process's CPU time (utime + stime, in clock ticks), and Redis's (s).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
redis_cpu() { redis-cli -p "$rport" info cpu | awk -F: '/^used_cpu_(sys|user):/ {s += $2} END {printf "%.6f", s}'; }
