#!/usr/bin/env bash
# Local Jaeger (v2 all-in-one, pinned) for supportops: the services' traces, to look at.
# OTLP gRPC 127.0.0.1:4317, OTLP HTTP 127.0.0.1:4318, UI + query API 127.0.0.1:16686,
# all loopback only; traces are kept in memory (the newest 100000) until it stops.
#
#   deploy/local/jaeger.sh start|stop|status|url|install
#
# start   build github.com/jaegertracing/jaeger/cmd/jaeger@<pinned> into .local/bin once
#         (again only when the binary is not that version), start it, wait until the
#         query API answers GET /api/services
# stop    SIGTERM, SIGKILL after 15 s
# status  exit 0 when the query API answers, 3 otherwise
# url     print the OTLP endpoint the services export to (for deploy/local/services.sh)
# install only build the binary (.ci/run does it before the tests, which start Jaeger)
#
# Every span is also copied to Zipkin (deploy/local/zipkin.sh, whose Lens UI is the trace
# UI here): a second exporter of Jaeger's pipeline, `kafka`, writes it Zipkin-JSON encoded
# onto the topic <KAFKA_TOPIC_PREFIX>zipkin of the stack's broker (created at start when
# missing), which Zipkin reads. Without Kafka, Jaeger still works: that exporter retries
# for 30 s per batch, logs and drops.
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
#   SUPPORTOPS_ZIPKIN=off           no copy to Zipkin
#   KAFKA_BOOTSTRAP_SERVERS, SUPPORTOPS_KAFKA_PORT, KAFKA_TOPIC_PREFIX  the stack's broker
#                                   and topic prefix (as the services); the topic:
#                                   SUPPORTOPS_ZIPKIN_TOPIC (default <prefix>zipkin)
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
  local assets="" exporters="jaeger_storage_exporter" zipkin="" broker brokers=""
  if [[ -n ${SUPPORTOPS_JAEGER_UI_ASSETS:-} ]]; then
    [[ -f $SUPPORTOPS_JAEGER_UI_ASSETS/index.html ]] ||
      die "SUPPORTOPS_JAEGER_UI_ASSETS=$SUPPORTOPS_JAEGER_UI_ASSETS has no index.html"
    assets="    ui:
      assets_path: \"$SUPPORTOPS_JAEGER_UI_ASSETS\""
  fi
  if zipkin_enabled; then
    IFS=, read -r -a broker <<<"$(stack_kafka_bootstrap)"
    brokers=$(printf '"%s", ' "${broker[@]}")
    exporters+=", kafka/zipkin"
    # The collector-contrib v0.139 kafka exporter (the one jaeger v1.75.0 pins): per-signal
    # `traces: {topic, encoding}` (the top-level topic/encoding are deprecated). Keyed by
    # trace id: a trace's spans stay in order on one partition. A Kafka that is gone
    # costs only retries: 30 s per batch, then the batch is dropped (Jaeger keeps it).
    zipkin="  kafka/zipkin:
    brokers: [${brokers%, }]
    client_id: supportops-jaeger
    traces:
      topic: \"$(zipkin_topic)\"
      encoding: zipkin_json
    partition_traces_by_id: true
    timeout: 10s
    retry_on_failure:
      enabled: true
      max_elapsed_time: 30s
    sending_queue:
      enabled: true
      queue_size: 200"
  fi
  mkdir -p "$CONF_DIR"
  render_template "$TEMPLATE" "$CONF" HOST="$HOST" UI_PORT="$UI_PORT" \
    QUERY_GRPC_PORT="$QUERY_GRPC_PORT" OTLP_GRPC_PORT="$OTLP_GRPC_PORT" \
    OTLP_HTTP_PORT="$OTLP_HTTP_PORT" HEALTH_PORT="$HEALTH_PORT" MAX_TRACES=100000 \
    UI_ASSETS="$assets" EXPORTERS="$exporters" ZIPKIN_EXPORTER="$zipkin"
}

# The topic the kafka exporter writes to must exist (the broker does not create topics).
ensure_zipkin_topic() {
  zipkin_enabled || return 0
  local topic
  topic=$(zipkin_topic)
  ensure_kafka_topic "$(stack_kafka_bootstrap)" "$topic" >>"$LOGFILE" 2>&1 ||
    warn "could not create the Kafka topic $topic on $(stack_kafka_bootstrap): spans reach Jaeger, not Zipkin (log $(rel "$LOGFILE"))"
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
  ensure_zipkin_topic
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

# Even with OTEL_EXPORTER_OTLP_ENDPOINT set: the trace tests start a Jaeger of their own.
cmd_install() {
  ensure_binary
  info "Jaeger $JAEGER_VERSION: $(rel "$BIN")"
}

cmd_url() {
  if external; then
    printf '%s\n' "$OTEL_EXPORTER_OTLP_ENDPOINT"
  else
    printf 'http://%s:%s\n' "$HOST" "$OTLP_HTTP_PORT"
  fi
}

dispatch "$@"
