#!/usr/bin/env bash
# Local Mailpit (an SMTP server that keeps every mail, with a web UI and a REST API; pinned)
# for supportops: SMTP on 127.0.0.1:1025, UI and API on http://127.0.0.1:8025, loopback only.
# Every mail the services send (replies, surveys, invitations...) can be read there.
#
#   deploy/local/mailpit.sh start|stop|status
#
# start   `go install github.com/axllent/mailpit@<pinned>` into .local/bin once (again only
#         when the binary is not that version), start it, wait until GET /api/v1/messages
#         answers 200
# stop    SIGTERM, SIGKILL after 15 s
# status  exit 0 when GET /api/v1/messages answers 200, 3 otherwise
#
# Environment:
#   SMTP_URL   the services send through that relay instead: start/stop do nothing
#   SUPPORTOPS_MAILPIT_SMTP_PORT, SUPPORTOPS_MAILPIT_UI_PORT  ports (1025, 8025)
#   GOFLAGS, GOPROXY, GOMODCACHE, GOCACHE ...  honoured by `go install`
#
# Mail is kept in memory only (no database file): a restart forgets it.
# Files: binary .local/bin/mailpit, log .local/logs/mailpit.log, pid .local/run/mailpit.pid
set -euo pipefail
# shellcheck disable=SC2034  # read by lib.sh
SVC=mailpit
# shellcheck source=deploy/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MAILPIT_MODULE=github.com/axllent/mailpit
MAILPIT_VERSION=v1.33.1
HOST=127.0.0.1
SMTP_PORT=${SUPPORTOPS_MAILPIT_SMTP_PORT:-1025}
UI_PORT=${SUPPORTOPS_MAILPIT_UI_PORT:-8025}
BIN="$BIN_DIR/mailpit"
LOGFILE="$LOG_DIR/mailpit-$SMTP_PORT.log"
START_TIMEOUT=30
STOP_TIMEOUT=15
BASE="http://$HOST:$UI_PORT"
MARKERS=("$BIN" --smtp "$HOST:$SMTP_PORT")

[[ $SMTP_PORT =~ ^[0-9]+$ && $UI_PORT =~ ^[0-9]+$ ]] || die "Mailpit ports must be numbers"

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

external() { [[ -n ${SMTP_URL:-} ]]; }

# The module version the binary was built from (Go build info).
installed_version() {
  [[ -x $BIN ]] || return 1
  command -v go >/dev/null 2>&1 || {
    printf 'unknown'
    return 0
  }
  go version -m "$BIN" 2>/dev/null | awk -v m="$MAILPIT_MODULE" '$1 == "mod" && $2 == m { print $3; exit }'
}

ensure_binary() {
  local have
  if have=$(installed_version) && [[ $have == "$MAILPIT_VERSION" || ($have == unknown && -x $BIN) ]]; then
    return 0
  fi
  command -v go >/dev/null 2>&1 ||
    die "Go is needed once to build Mailpit ($MAILPIT_MODULE@$MAILPIT_VERSION); install Go or set SMTP_URL"
  local t0=$SECONDS log="$LOG_DIR/mailpit-install.log"
  info "go install $MAILPIT_MODULE@$MAILPIT_VERSION -> $(rel "$BIN_DIR") (once; a few minutes)"
  ensure_dirs
  if ! (cd "$STATE_DIR" && GOBIN="$BIN_DIR" go install "$MAILPIT_MODULE@$MAILPIT_VERSION") >"$log" 2>&1 9>&-; then
    show_log_tail "$log"
    die "go install failed (full output: $(rel "$log"))"
  fi
  have=$(installed_version) || true
  [[ $have == "$MAILPIT_VERSION" ]] || die "built $(rel "$BIN") reports module version '$have', expected $MAILPIT_VERSION"
  info "built Mailpit $have in $((SECONDS - t0))s"
}

api_ok() { [[ $(http_status "$BASE/api/v1/messages?limit=1") == 200 ]]; }

find_ours() {
  ours_pid "mailpit-$SMTP_PORT" "${MARKERS[@]}" && return 0
  adopt_listener "mailpit-$SMTP_PORT" "$SMTP_PORT" "${MARKERS[@]}"
}

cmd_start() {
  if external; then
    info "external SMTP relay used (SMTP_URL is set); not starting Mailpit"
    return 0
  fi
  acquire_lock "mailpit-$SMTP_PORT"
  local pid t0=$SECONDS rc=0 port
  if pid=$(find_ours); then
    WAIT_WHILE_PID=$pid wait_until "$START_TIMEOUT" 0.5 api_ok ||
      die "Mailpit (pid $pid) running but $BASE/api/v1/messages does not answer 200"
    info "already running (pid $pid), SMTP $HOST:$SMTP_PORT, UI $BASE"
    return 0
  fi
  for port in "$SMTP_PORT" "$UI_PORT"; do
    if tcp_open "$HOST" "$port"; then
      die "port $port on $HOST is already in use by $(describe_port_owner "$port"), which is not this checkout's Mailpit. Stop it, or set SUPPORTOPS_MAILPIT_SMTP_PORT/SUPPORTOPS_MAILPIT_UI_PORT."
    fi
  done
  ensure_binary
  info "starting Mailpit $MAILPIT_VERSION: SMTP $HOST:$SMTP_PORT, UI $BASE (log $(rel "$LOGFILE"))"
  printf '\n===== %s mailpit.sh start (%s) =====\n' "$(date -u +%FT%TZ)" "$MAILPIT_VERSION" >>"$LOGFILE"
  # --smtp-auth-accept-any: a client configured with credentials (as production is)
  # still delivers; --smtp-auth-allow-insecure: without TLS on loopback
  DAEMON_CWD=$STATE_DIR start_daemon "mailpit-$SMTP_PORT" "$LOGFILE" "$BIN" \
    --smtp "$HOST:$SMTP_PORT" --listen "$HOST:$UI_PORT" \
    --smtp-auth-accept-any --smtp-auth-allow-insecure --max 5000
  pid=$DAEMON_PID
  WAIT_WHILE_PID=$pid wait_until "$START_TIMEOUT" 0.3 api_ok || rc=$?
  if ((rc != 0)); then
    show_log_tail "$LOGFILE"
    ((rc == 2)) && die "Mailpit (pid $pid) exited during startup"
    die "Mailpit (pid $pid) not answering on $BASE/api/v1/messages after ${START_TIMEOUT}s"
  fi
  info "ready (pid $pid), SMTP $HOST:$SMTP_PORT, UI $BASE after $((SECONDS - t0))s"
}

cmd_stop() {
  if external; then
    info "external SMTP relay used (SMTP_URL is set); nothing to stop"
    return 0
  fi
  acquire_lock "mailpit-$SMTP_PORT"
  local pid
  if ! pid=$(find_ours); then
    info "not running"
    return 0
  fi
  info "stopping (pid $pid)"
  stop_pid "$pid" TERM "$STOP_TIMEOUT"
  rm -f "$(pid_file "mailpit-$SMTP_PORT")"
  info "stopped"
}

cmd_status() {
  if external; then
    echo "mailpit: not used (SMTP_URL is set)"
    return 0
  fi
  local pid
  if ! pid=$(find_ours); then
    echo "mailpit: stopped"
    return "$EXIT_NOT_RUNNING"
  fi
  if api_ok; then
    echo "mailpit: running (pid $pid, $MAILPIT_VERSION), SMTP $HOST:$SMTP_PORT, UI $BASE, log $(rel "$LOGFILE")"
    return 0
  fi
  echo "mailpit: unhealthy (pid $pid alive, $BASE/api/v1/messages not 200), log $(rel "$LOGFILE")"
  return "$EXIT_NOT_RUNNING"
}

dispatch "$@"
