#!/usr/bin/env bash
# Local Jaeger (v2 all-in-one, pinned) for supportops: the services' traces, to look at.
# OTLP gRPC 127.0.0.1:4317, OTLP HTTP 127.0.0.1:4318, UI + query API 127.0.0.1:16686,
# all loopback only; traces are kept in memory (the newest 100000) until it stops.
#
#   deploy/local/jaeger.sh start|stop|status|url
#
# start   build github.com/jaegertracing/jaeger/cmd/jaeger@<pinned> into .local/bin once
#         (again only when the binary is not that version), start it, wait until the
#         query API answers GET /api/services
# stop    SIGTERM, SIGKILL after 15 s
# status  exit 0 when the query API answers, 3 otherwise
# url     print the OTLP endpoint the services export to (for deploy/local/services.sh)
#
# Environment:
#   OTEL_EXPORTER_OTLP_ENDPOINT  another collector is used: start/stop do nothing
#   SUPPORTOPS_JAEGER_UI_PORT, SUPPORTOPS_JAEGER_OTLP_GRPC_PORT,
#   SUPPORTOPS_JAEGER_OTLP_HTTP_PORT, SUPPORTOPS_JAEGER_QUERY_GRPC_PORT,
#   SUPPORTOPS_JAEGER_HEALTH_PORT   ports (16686, 4317, 4318, 16685, 13133)
#   SUPPORTOPS_JAEGER_UI_ASSETS     a directory holding a built jaeger-ui (its index.html):
#                                   served as the UI. The Go module ships only a placeholder
#                                   page (the UI is a separate JavaScript build); the query
#                                   API (/api/traces/<id>) works either way
#   GOFLAGS, GOPROXY, GOMODCACHE, GOCACHE ...  honoured by the Go build
#   SUPPORTOPS_STATE_DIR            another state directory (config, log, pid, lock)
#                                   instead of .local, for a second stack (decision 0016;
#                                   set the ports above too); the binary stays shared
#
# Why not `go install …@v1.75.0`: the jaeger module's go.mod has replace directives, which
# `go install pkg@version` refuses; so the module is fetched with `go mod download` (the
# Go module proxy, as go install would) and built in a copy, where its replaces apply.
# Files: binary .local/bin/jaeger, config <state>/jaeger/config.yaml,
#        log <state>/logs/jaeger.log, pid <state>/run/jaeger.pid (<state>: .local)
set -euo pipefail
# shellcheck disable=SC2034  # read by lib.sh
SVC=jaeger
# shellcheck source=deploy/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

JAEGER_MODULE=github.com/jaegertracing/jaeger
JAEGER_VERSION=v1.75.0
HOST=127.0.0.1
UI_PORT=${SUPPORTOPS_JAEGER_UI_PORT:-16686}
OTLP_GRPC_PORT=${SUPPORTOPS_JAEGER_OTLP_GRPC_PORT:-4317}
OTLP_HTTP_PORT=${SUPPORTOPS_JAEGER_OTLP_HTTP_PORT:-4318}
QUERY_GRPC_PORT=${SUPPORTOPS_JAEGER_QUERY_GRPC_PORT:-16685}
HEALTH_PORT=${SUPPORTOPS_JAEGER_HEALTH_PORT:-13133}
BIN="$BIN_DIR/jaeger"
CONF_DIR="$STATE_DIR/jaeger"
CONF="$CONF_DIR/config.yaml"
TEMPLATE="$LOCAL_SCRIPTS_DIR/jaeger/config.yaml.template"
LOGFILE="$LOG_DIR/jaeger.log"
START_TIMEOUT=60
STOP_TIMEOUT=15
BASE="http://$HOST:$UI_PORT"
# Every stack runs the same binary: its own config file tells this stack's instance apart.
MARKERS=("$BIN" --config "$CONF")

for p in "$UI_PORT" "$OTLP_GRPC_PORT" "$OTLP_HTTP_PORT" "$QUERY_GRPC_PORT" "$HEALTH_PORT"; do
  [[ $p =~ ^[0-9]+$ ]] || die "Jaeger ports must be numbers"
done

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

external() { [[ -n ${OTEL_EXPORTER_OTLP_ENDPOINT:-} ]]; }

# The version recorded beside the binary at build time (`go version -m` says "(devel)"
# for a build inside the module's own directory).
installed_version() {
  [[ -x $BIN && -r $BIN.version ]] || return 1
  local v
  read -r v <"$BIN.version" || return 1
  printf '%s' "$v"
}

ensure_binary() { with_cache_lock jaeger-build ensure_binary_locked; }

ensure_binary_locked() {
  local have
  if have=$(installed_version) && [[ $have == "$JAEGER_VERSION" ]]; then
    return 0
  fi
  command -v go >/dev/null 2>&1 ||
    die "Go is needed once to build Jaeger ($JAEGER_MODULE@$JAEGER_VERSION); install Go or set OTEL_EXPORTER_OTLP_ENDPOINT"
  local t0=$SECONDS log="$LOG_DIR/jaeger-install.log" dir src="$CACHE_DIR/src/jaeger-$JAEGER_VERSION"
  info "building $JAEGER_MODULE/cmd/jaeger@$JAEGER_VERSION -> $(rel "$BIN_DIR") (once; a few minutes)"
  ensure_dirs
  {
    dir=$(cd "$CACHE_DIR" && go mod download -json "$JAEGER_MODULE@$JAEGER_VERSION" |
      awk -F'"' '$2 == "Dir" { print $4 }') &&
      [[ -n $dir ]] &&
      rm -rf "$src" && mkdir -p "$(dirname "$src")" && cp -r "$dir" "$src" && chmod -R u+w "$src" &&
      (cd "$src" && go build -trimpath -o "$BIN" ./cmd/jaeger)
  } >"$log" 2>&1 9>&- || {
    show_log_tail "$log"
    die "building Jaeger failed (full output: $(rel "$log"))"
  }
  printf '%s\n' "$JAEGER_VERSION" >"$BIN.version"
  info "built Jaeger $JAEGER_VERSION in $((SECONDS - t0))s"
}

render_config() {
  local assets=""
  if [[ -n ${SUPPORTOPS_JAEGER_UI_ASSETS:-} ]]; then
    [[ -f $SUPPORTOPS_JAEGER_UI_ASSETS/index.html ]] ||
      die "SUPPORTOPS_JAEGER_UI_ASSETS=$SUPPORTOPS_JAEGER_UI_ASSETS has no index.html"
    assets="    ui:
      assets_path: \"$SUPPORTOPS_JAEGER_UI_ASSETS\""
  fi
  mkdir -p "$CONF_DIR"
  render_template "$TEMPLATE" "$CONF" HOST="$HOST" UI_PORT="$UI_PORT" \
    QUERY_GRPC_PORT="$QUERY_GRPC_PORT" OTLP_GRPC_PORT="$OTLP_GRPC_PORT" \
    OTLP_HTTP_PORT="$OTLP_HTTP_PORT" HEALTH_PORT="$HEALTH_PORT" MAX_TRACES=100000 \
    UI_ASSETS="$assets"
}

api_ok() { [[ $(http_status "$BASE/api/services") == 200 ]]; }

find_ours() {
  ours_pid jaeger "${MARKERS[@]}" && return 0
  adopt_listener jaeger "$UI_PORT" "${MARKERS[@]}"
}

cmd_start() {
  if external; then
    info "traces go to OTEL_EXPORTER_OTLP_ENDPOINT=$OTEL_EXPORTER_OTLP_ENDPOINT; not starting Jaeger"
    return 0
  fi
  acquire_lock jaeger
  local pid t0=$SECONDS rc=0 port
  if pid=$(find_ours); then
    WAIT_WHILE_PID=$pid wait_until "$START_TIMEOUT" 0.5 api_ok ||
      die "Jaeger (pid $pid) running but $BASE/api/services does not answer 200"
    info "already running (pid $pid), UI $BASE"
    return 0
  fi
  for port in "$UI_PORT" "$OTLP_GRPC_PORT" "$OTLP_HTTP_PORT" "$QUERY_GRPC_PORT" "$HEALTH_PORT"; do
    if tcp_open "$HOST" "$port"; then
      die "port $port on $HOST is already in use by $(describe_port_owner "$port"), which is not this checkout's Jaeger. Stop it, or set OTEL_EXPORTER_OTLP_ENDPOINT to use another collector."
    fi
  done
  ensure_binary
  render_config
  info "starting Jaeger $JAEGER_VERSION: UI $BASE, OTLP $HOST:$OTLP_GRPC_PORT (gRPC) and $HOST:$OTLP_HTTP_PORT (HTTP) (log $(rel "$LOGFILE"))"
  printf '\n===== %s jaeger.sh start (%s) =====\n' "$(date -u +%FT%TZ)" "$JAEGER_VERSION" >>"$LOGFILE"
  # Jaeger's query service traces itself through the OTel SDK, which exports to
  # 127.0.0.1:4317 unless told otherwise: aim it at this instance (other ports) and
  # sample nothing, or it keeps dialling, and its shutdown waits on that.
  DAEMON_CWD=$STATE_DIR start_daemon jaeger "$LOGFILE" env \
    OTEL_EXPORTER_OTLP_ENDPOINT="http://$HOST:$OTLP_GRPC_PORT" OTEL_TRACES_SAMPLER=always_off \
    "$BIN" --config "$CONF"
  pid=$DAEMON_PID
  WAIT_WHILE_PID=$pid wait_until "$START_TIMEOUT" 0.3 api_ok || rc=$?
  if ((rc != 0)); then
    show_log_tail "$LOGFILE"
    ((rc == 2)) && die "Jaeger (pid $pid) exited during startup"
    die "Jaeger (pid $pid) not answering on $BASE/api/services after ${START_TIMEOUT}s"
  fi
  info "ready (pid $pid), UI $BASE after $((SECONDS - t0))s"
}

cmd_stop() {
  if external; then
    info "traces go to OTEL_EXPORTER_OTLP_ENDPOINT; nothing to stop"
    return 0
  fi
  acquire_lock jaeger
  local pid
  if ! pid=$(find_ours); then
    info "not running"
    return 0
  fi
  info "stopping (pid $pid)"
  stop_pid "$pid" TERM "$STOP_TIMEOUT"
  rm -f "$(pid_file jaeger)"
  info "stopped"
}

cmd_status() {
  if external; then
    echo "jaeger: external collector ($OTEL_EXPORTER_OTLP_ENDPOINT)"
    return 0
  fi
  local pid
  if ! pid=$(find_ours); then
    echo "jaeger: stopped"
    return "$EXIT_NOT_RUNNING"
  fi
  if api_ok; then
    echo "jaeger: running (pid $pid, $JAEGER_VERSION), UI $BASE, OTLP http://$HOST:$OTLP_HTTP_PORT, log $(rel "$LOGFILE")"
    return 0
  fi
  echo "jaeger: unhealthy (pid $pid alive, $BASE/api/services not 200), log $(rel "$LOGFILE")"
  return "$EXIT_NOT_RUNNING"
}

cmd_url() {
  if external; then
    printf '%s\n' "$OTEL_EXPORTER_OTLP_ENDPOINT"
  else
    printf 'http://%s:%s\n' "$HOST" "$OTLP_HTTP_PORT"
  fi
}

dispatch "$@"
