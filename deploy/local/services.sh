#!/usr/bin/env bash
# The four supportops services as background processes (uvicorn via each service's CLI).
#   services.sh start|stop|status|logs [SERVICE...]
# Ports: ticket 8001, billing 8002, onboarding 8003, escalation 8004 (override with
# TICKET_PORT, ...). Logs: <state>/logs/<service>.log; pids: <state>/run/<service>.pid,
# where <state> is .local or SUPPORTOPS_STATE_DIR (a second stack, decision 0016).
# Traces: exported to OTEL_EXPORTER_OTLP_ENDPOINT when set, else to the local Jaeger
# (deploy/local/jaeger.sh) when it is running, else not exported.
set -euo pipefail
SVC=services
# shellcheck source=deploy/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ALL=(ticket-service billing-service onboarding-service escalation-service)
VENV_BIN="$ROOT/.venv/bin"

usage() {
  cat <<USAGE
usage: $(basename "$0") start|stop|status|logs [SERVICE...]
services: ${ALL[*]}
USAGE
}

port_of() {
  local name=$1 prefix default
  case "$name" in
    ticket-service) prefix=TICKET default=8001 ;;
    billing-service) prefix=BILLING default=8002 ;;
    onboarding-service) prefix=ONBOARDING default=8003 ;;
    escalation-service) prefix=ESCALATION default=8004 ;;
    *) die "unknown service $name" ;;
  esac
  local var="${prefix}_PORT"
  printf '%s' "${!var:-$default}"
}

selected() {
  if [[ $# -gt 0 ]]; then printf '%s\n' "$@"; else printf '%s\n' "${ALL[@]}"; fi
}

ready() { [[ $(http_status "http://127.0.0.1:$1/readyz") == 200 ]]; }

cmd_start() {
  local name port pid failed=0
  [[ -x $VENV_BIN/ticket-service ]] || die "the workspace is not installed: run 'make install'"
  if [[ -z ${OTEL_EXPORTER_OTLP_ENDPOINT:-} ]] && "$LOCAL_SCRIPTS_DIR/jaeger.sh" status >/dev/null 2>&1; then
    OTEL_EXPORTER_OTLP_ENDPOINT=$("$LOCAL_SCRIPTS_DIR/jaeger.sh" url)
    export OTEL_EXPORTER_OTLP_ENDPOINT
    info "traces to Jaeger at $OTEL_EXPORTER_OTLP_ENDPOINT"
  fi
  local -a started=()
  for name in $(selected "$@"); do
    port=$(port_of "$name")
    if pid=$(ours_pid "$name" "$name" serve); then
      info "$name already running (pid $pid) on :$port"
      continue
    fi
    if tcp_open 127.0.0.1 "$port"; then
      die "port $port (for $name) is taken by $(describe_port_owner "$port"); stop it or set the ${name%%-*} port variable (e.g. TICKET_PORT)"
    fi
    start_daemon "$name" "$LOG_DIR/$name.log" "$VENV_BIN/$name" serve --port "$port"
    info "$name starting (pid $DAEMON_PID) on :$port, log $(rel "$LOG_DIR/$name.log")"
    started+=("$name")
  done
  for name in "${started[@]}"; do
    port=$(port_of "$name")
    pid=$(ours_pid "$name" "$name" serve) || { show_log_tail "$LOG_DIR/$name.log"; die "$name exited during start-up"; }
    if WAIT_WHILE_PID=$pid wait_until 120 0.5 ready "$port"; then
      info "$name ready on http://127.0.0.1:$port"
    else
      show_log_tail "$LOG_DIR/$name.log"
      warn "$name did not become ready on :$port"
      failed=1
    fi
  done
  return $failed
}

cmd_stop() {
  local name pid
  for name in $(selected "$@"); do
    if pid=$(ours_pid "$name" "$name" serve); then
      stop_pid "$pid" TERM 30
      rm -f "$(pid_file "$name")"
      info "$name stopped"
    fi
  done
}

cmd_status() {
  local name port pid rc=0
  for name in $(selected "$@"); do
    port=$(port_of "$name")
    if pid=$(ours_pid "$name" "$name" serve); then
      if ready "$port"; then
        printf '%-20s ready    pid %-7s http://127.0.0.1:%s\n' "$name" "$pid" "$port"
      else
        printf '%-20s running  pid %-7s http://127.0.0.1:%s (not ready: see /readyz)\n' "$name" "$pid" "$port"
        rc=$EXIT_NOT_RUNNING
      fi
    else
      printf '%-20s stopped\n' "$name"
      rc=$EXIT_NOT_RUNNING
    fi
  done
  return $rc
}

cmd_logs() {
  local name
  for name in $(selected "$@"); do
    printf '==> %s <==\n' "$(rel "$LOG_DIR/$name.log")"
    tail -n 30 "$LOG_DIR/$name.log" 2>/dev/null || echo "(no log yet)"
  done
}

dispatch "$@"
