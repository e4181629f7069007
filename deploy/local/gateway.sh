#!/usr/bin/env bash
# The local gateway (Caddy): one origin, http://127.0.0.1:8000, in front of the four
# services — /ticket/*, /billing/*, /onboarding/*, /escalation/* with the prefix stripped
# (decision 0023; the k8s Ingress has the same layout).
#
#   deploy/local/gateway.sh start|stop|status|url
#
# start   render deploy/local/gateway/Caddyfile.template into <state>/gateway/Caddyfile
#         (the services' ports from servicekit.localstack: TICKET_PORT ... or 8001-8004),
#         start `caddy run`, wait until GET /gateway/healthz answers 200. The services
#         need not run yet: a path whose service is down answers a 502 problem.
# stop    SIGTERM, SIGKILL after 15 s
# status  exit 0 when GET /gateway/healthz answers 200, 3 otherwise
# url     print the gateway's base URL
#
# Environment:
#   SUPPORTOPS_GATEWAY_PORT   the gateway's port (8000)
#   TICKET_PORT, BILLING_PORT, ONBOARDING_PORT, ESCALATION_PORT   the services' ports
#   SUPPORTOPS_STATE_DIR      another state directory (Caddyfile, Caddy's data, log, pid,
#                             lock) instead of .local: a second gateway beside the first
#   CADDY                     the caddy binary (default: `caddy` on PATH; Debian bookworm's
#                             package `caddy`, installed by .ci/run)
# Files: <state>/gateway/Caddyfile, log <state>/logs/gateway.log,
#        pid <state>/run/gateway.pid (<state>: .local)
set -euo pipefail
# shellcheck disable=SC2034  # read by lib.sh
SVC=gateway
# shellcheck source=deploy/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HOST=127.0.0.1
PORT=${SUPPORTOPS_GATEWAY_PORT:-8000}
BASE="http://$HOST:$PORT"
GATEWAY_DIR="$STATE_DIR/gateway"
CADDYFILE="$GATEWAY_DIR/Caddyfile"
TEMPLATE="$LOCAL_SCRIPTS_DIR/gateway/Caddyfile.template"
LOGFILE="$LOG_DIR/gateway.log"
START_TIMEOUT=20
STOP_TIMEOUT=15
PY="$ROOT/.venv/bin/python"

[[ $PORT =~ ^[0-9]+$ ]] || die "SUPPORTOPS_GATEWAY_PORT must be a number"

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

caddy_bin() {
  local bin=${CADDY:-caddy}
  command -v "$bin" 2>/dev/null ||
    die "caddy not found: apt-get install caddy (Debian bookworm: 2.6), or set CADDY"
}

# The services' ports, from the same settings source as everything else.
service_ports() {
  if [[ -x $PY ]]; then
    eval "$("$PY" -m servicekit.localstack | grep -E '^(TICKET|BILLING|ONBOARDING|ESCALATION)_PORT=')"
  fi
  TICKET_PORT=${TICKET_PORT:-8001}
  BILLING_PORT=${BILLING_PORT:-8002}
  ONBOARDING_PORT=${ONBOARDING_PORT:-8003}
  ESCALATION_PORT=${ESCALATION_PORT:-8004}
}

healthy() { [[ $(http_status "$BASE/gateway/healthz") == 200 ]]; }

find_ours() { ours_pid gateway "$CADDYFILE" run; }

cmd_url() { printf '%s\n' "$BASE"; }

cmd_start() {
  acquire_lock gateway
  local pid t0=$SECONDS rc=0 bin
  if pid=$(find_ours); then
    WAIT_WHILE_PID=$pid wait_until "$START_TIMEOUT" 0.3 healthy ||
      die "gateway (pid $pid) running but $BASE/gateway/healthz does not answer 200"
    info "already running (pid $pid) on $BASE"
    return 0
  fi
  if tcp_open "$HOST" "$PORT"; then
    die "port $PORT on $HOST is already in use by $(describe_port_owner "$PORT"); set SUPPORTOPS_GATEWAY_PORT"
  fi
  bin=$(caddy_bin)
  service_ports
  mkdir -p "$GATEWAY_DIR"
  render_template "$TEMPLATE" "$CADDYFILE" HOST="$HOST" PORT="$PORT" \
    TICKET_UPSTREAM="$HOST:$TICKET_PORT" BILLING_UPSTREAM="$HOST:$BILLING_PORT" \
    ONBOARDING_UPSTREAM="$HOST:$ONBOARDING_PORT" ESCALATION_UPSTREAM="$HOST:$ESCALATION_PORT"
  info "starting Caddy on $BASE -> ticket :$TICKET_PORT, billing :$BILLING_PORT, onboarding :$ONBOARDING_PORT, escalation :$ESCALATION_PORT (log $(rel "$LOGFILE"))"
  printf '\n===== %s gateway.sh start =====\n' "$(date -u +%FT%TZ)" >>"$LOGFILE"
  # Caddy keeps its data (and an autosaved config) under XDG dirs: this stack's own.
  DAEMON_CWD=$GATEWAY_DIR start_daemon gateway "$LOGFILE" env \
    XDG_DATA_HOME="$GATEWAY_DIR/data" XDG_CONFIG_HOME="$GATEWAY_DIR/config" \
    "$bin" run --config "$CADDYFILE" --adapter caddyfile
  pid=$DAEMON_PID
  WAIT_WHILE_PID=$pid wait_until "$START_TIMEOUT" 0.2 healthy || rc=$?
  if ((rc != 0)); then
    show_log_tail "$LOGFILE"
    ((rc == 2)) && die "Caddy (pid $pid) exited during startup"
    die "Caddy (pid $pid) not answering on $BASE/gateway/healthz after ${START_TIMEOUT}s"
  fi
  info "ready (pid $pid) on $BASE after $((SECONDS - t0))s"
}

cmd_stop() {
  acquire_lock gateway
  local pid
  if ! pid=$(find_ours); then
    info "not running"
    return 0
  fi
  info "stopping (pid $pid)"
  stop_pid "$pid" TERM "$STOP_TIMEOUT"
  rm -f "$(pid_file gateway)"
  info "stopped"
}

cmd_status() {
  local pid
  if ! pid=$(find_ours); then
    if tcp_open "$HOST" "$PORT"; then
      echo "gateway: stopped (but $HOST:$PORT is in use by $(describe_port_owner "$PORT"))"
    else
      echo "gateway: stopped"
    fi
    return "$EXIT_NOT_RUNNING"
  fi
  if healthy; then
    echo "gateway: running (pid $pid) on $BASE, log $(rel "$LOGFILE")"
    return 0
  fi
  echo "gateway: unhealthy (pid $pid alive, $BASE/gateway/healthz not 200), log $(rel "$LOGFILE")"
  return "$EXIT_NOT_RUNNING"
}

dispatch "$@"
