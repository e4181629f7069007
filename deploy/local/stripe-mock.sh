#!/usr/bin/env bash
# Local stripe-mock (Stripe's official API mock, pinned) for supportops:
# HTTP on 127.0.0.1:12111, HTTPS on 127.0.0.1:12112, both loopback only.
#
#   deploy/local/stripe-mock.sh start|stop|status
#
# start   `go install github.com/stripe/stripe-mock@<pinned>` into .local/bin once (again
#         only when the binary is not that version), start it, wait until
#         GET /v1/customers with a test key answers 200
# stop    SIGTERM, SIGKILL after 15 s
# status  exit 0 when GET /v1/customers answers 200, 3 otherwise
#
# Environment:
#   STRIPE_API_BASE   use that API instead (e.g. another stripe-mock): start/stop do nothing,
#                     status checks it (with STRIPE_API_KEY, default sk_test_123)
#   SUPPORTOPS_STRIPE_MOCK_PORT, SUPPORTOPS_STRIPE_MOCK_HTTPS_PORT  ports (12111, 12112)
#   SUPPORTOPS_STATE_DIR  another state directory (log, pid, lock) instead of .local: a
#                         second stripe-mock beside the first, with both ports set too
#                         (decision 0016); the binary stays shared
#   GOFLAGS, GOPROXY, GOMODCACHE, GOCACHE ...  honoured by `go install`
#
# Note: stripe-mock opens an HTTPS listener on all interfaces (:12112) unless given an
# address for it, even when -http-addr is set; so both addresses are always passed.
# Files: binary .local/bin/stripe-mock, log <state>/logs/stripe-mock.log,
#        pid <state>/run/stripe-mock.pid (<state>: .local)
set -euo pipefail
# shellcheck disable=SC2034  # read by lib.sh
SVC=stripe-mock
# shellcheck source=deploy/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STRIPE_MOCK_MODULE=github.com/stripe/stripe-mock
STRIPE_MOCK_VERSION=v0.197.0
HOST=127.0.0.1
HTTP_PORT=${SUPPORTOPS_STRIPE_MOCK_PORT:-12111}
HTTPS_PORT=${SUPPORTOPS_STRIPE_MOCK_HTTPS_PORT:-12112}
BIN="$BIN_DIR/stripe-mock"
LOGFILE="$LOG_DIR/stripe-mock.log"
START_TIMEOUT=30
STOP_TIMEOUT=15
TEST_KEY=sk_test_123
BASE="http://$HOST:$HTTP_PORT"
MARKERS=("$BIN" -http-addr)

[[ $HTTP_PORT =~ ^[0-9]+$ && $HTTPS_PORT =~ ^[0-9]+$ ]] || die "stripe-mock ports must be numbers"

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

external() { [[ -n ${STRIPE_API_BASE:-} ]]; }

# The module version the binary was built from (`stripe-mock -version` says "master"
# for `go install` builds, so ask the Go build info instead).
installed_version() {
  [[ -x $BIN ]] || return 1
  command -v go >/dev/null 2>&1 || {
    printf 'unknown'
    return 0
  }
  go version -m "$BIN" 2>/dev/null | awk -v m="$STRIPE_MOCK_MODULE" '$1 == "mod" && $2 == m { print $3; exit }'
}

ensure_binary() { with_cache_lock stripe-mock-build ensure_binary_locked; }

ensure_binary_locked() {
  local have
  if have=$(installed_version) && [[ $have == "$STRIPE_MOCK_VERSION" || ($have == unknown && -x $BIN) ]]; then
    return 0
  fi
  command -v go >/dev/null 2>&1 ||
    die "Go is needed once to build stripe-mock ($STRIPE_MOCK_MODULE@$STRIPE_MOCK_VERSION); install Go or set STRIPE_API_BASE"
  local t0=$SECONDS log="$LOG_DIR/stripe-mock-install.log"
  info "go install $STRIPE_MOCK_MODULE@$STRIPE_MOCK_VERSION -> $(rel "$BIN_DIR")"
  ensure_dirs
  if ! (cd "$CACHE_DIR" && GOBIN="$BIN_DIR" go install "$STRIPE_MOCK_MODULE@$STRIPE_MOCK_VERSION") >"$log" 2>&1 9>&-; then
    show_log_tail "$log"
    die "go install failed (full output: $(rel "$log"))"
  fi
  have=$(installed_version) || true
  [[ $have == "$STRIPE_MOCK_VERSION" ]] || die "built $(rel "$BIN") reports module version '$have', expected $STRIPE_MOCK_VERSION"
  info "built stripe-mock $have in $((SECONDS - t0))s"
}

api_ok() {
  [[ $(http_status "$1/v1/customers" "Authorization: Bearer $2") == 200 ]]
}

check_running_port() {
  if ! cmdline_has "$1" "-http-addr $HOST:$HTTP_PORT "; then
    echo "stripe-mock: running (pid $1) as '$(proc_cmdline "$1")', not on $HOST:$HTTP_PORT: stop it first to change ports"
    return 1
  fi
}

find_ours() {
  ours_pid stripe-mock "${MARKERS[@]}" && return 0
  # Every stack runs the same binary: only one started in this stack's state dir (its
  # working directory) is adopted, never another stack's on the same port.
  ADOPT_CWD=$STATE_DIR adopt_listener stripe-mock "$HTTP_PORT" "${MARKERS[@]}"
}

cmd_start() {
  if external; then
    info "external Stripe API used (STRIPE_API_BASE=$STRIPE_API_BASE); not starting stripe-mock"
    return 0
  fi
  acquire_lock stripe-mock
  local pid t0=$SECONDS rc=0
  if pid=$(find_ours); then
    local msg
    msg=$(check_running_port "$pid") || die "${msg#*: }"
    WAIT_WHILE_PID=$pid wait_until "$START_TIMEOUT" 0.5 api_ok "$BASE" "$TEST_KEY" ||
      die "stripe-mock (pid $pid) running but $BASE/v1/customers does not answer 200"
    info "already running (pid $pid) on $BASE"
    return 0
  fi
  local port
  for port in "$HTTP_PORT" "$HTTPS_PORT"; do
    if tcp_open "$HOST" "$port"; then
      die "port $port on $HOST is already in use by $(describe_port_owner "$port"), which is not this checkout's stripe-mock. Stop it, or set STRIPE_API_BASE to use it."
    fi
  done
  ensure_binary
  info "starting stripe-mock $STRIPE_MOCK_VERSION on $BASE (log $(rel "$LOGFILE"))"
  printf '\n===== %s stripe-mock.sh start (%s) =====\n' "$(date -u +%FT%TZ)" "$STRIPE_MOCK_VERSION" >>"$LOGFILE"
  # PORT in the environment would change stripe-mock's defaults; drop it.
  DAEMON_CWD=$STATE_DIR start_daemon stripe-mock "$LOGFILE" env -u PORT "$BIN" \
    -http-addr "$HOST:$HTTP_PORT" -https-addr "$HOST:$HTTPS_PORT"
  pid=$DAEMON_PID
  WAIT_WHILE_PID=$pid wait_until "$START_TIMEOUT" 0.3 api_ok "$BASE" "$TEST_KEY" || rc=$?
  if ((rc != 0)); then
    show_log_tail "$LOGFILE"
    ((rc == 2)) && die "stripe-mock (pid $pid) exited during startup"
    die "stripe-mock (pid $pid) not answering 200 on $BASE/v1/customers after ${START_TIMEOUT}s"
  fi
  info "ready (pid $pid) on $BASE after $((SECONDS - t0))s"
}

cmd_stop() {
  if external; then
    info "external Stripe API used (STRIPE_API_BASE=$STRIPE_API_BASE); nothing to stop"
    return 0
  fi
  acquire_lock stripe-mock
  local pid
  if ! pid=$(find_ours); then
    info "not running"
    return 0
  fi
  info "stopping (pid $pid)"
  stop_pid "$pid" TERM "$STOP_TIMEOUT"
  rm -f "$(pid_file stripe-mock)"
  info "stopped"
}

cmd_status() {
  if external; then
    local base=${STRIPE_API_BASE%/}
    if api_ok "$base" "${STRIPE_API_KEY:-$TEST_KEY}"; then
      echo "stripe-mock: external ($base), GET /v1/customers OK"
      return 0
    fi
    echo "stripe-mock: external ($base), GET /v1/customers FAILED"
    return "$EXIT_NOT_RUNNING"
  fi
  local pid
  if ! pid=$(find_ours); then
    if tcp_open "$HOST" "$HTTP_PORT"; then
      echo "stripe-mock: stopped (but $HOST:$HTTP_PORT is in use by $(describe_port_owner "$HTTP_PORT"))"
    else
      echo "stripe-mock: stopped"
    fi
    return "$EXIT_NOT_RUNNING"
  fi
  check_running_port "$pid" || return "$EXIT_NOT_RUNNING"
  if api_ok "$BASE" "$TEST_KEY"; then
    echo "stripe-mock: running (pid $pid, $STRIPE_MOCK_VERSION) on $BASE (https 127.0.0.1:$HTTPS_PORT), log $(rel "$LOGFILE")"
    return 0
  fi
  echo "stripe-mock: unhealthy (pid $pid alive, $BASE/v1/customers not 200), log $(rel "$LOGFILE")"
  return "$EXIT_NOT_RUNNING"
}

dispatch "$@"
