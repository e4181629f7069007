#!/usr/bin/env bash
# Local Apache Kafka for supportops: one real broker in KRaft mode (broker + controller in
# one JVM), PLAINTEXT on 127.0.0.1:9092, controller on 127.0.0.1:9093.
#
#   deploy/local/kafka.sh start|stop|status|topics [TopicCommand args]
#
# start   fetch the broker jars once (Maven, deploy/local/kafka/pom.xml; refetched when the
#         pom changes), format the storage once, start the broker, wait until a metadata
#         request succeeds (up to SUPPORTOPS_KAFKA_START_TIMEOUT s, default 90)
# stop    SIGTERM (controlled shutdown), SIGKILL after 60 s
# status  exit 0 when a metadata request succeeds, 3 otherwise
# topics  kafka-topics: lists topics; other args are passed to TopicCommand, e.g.
#         `topics --describe --topic tickets.events`
#
# Environment:
#   KAFKA_BOOTSTRAP_SERVERS  use that broker instead: start/stop do nothing, status and
#                            topics talk to it
#   SUPPORTOPS_KAFKA_PORT, SUPPORTOPS_KAFKA_CONTROLLER_PORT  ports (9092, 9093); the
#                            controller port is written into the storage at format time:
#                            to change it later, delete .local/kafka/data
#   KAFKA_HEAP_OPTS          JVM heap (default -Xms256m -Xmx1g)
#   JAVA_HOME                Java 17+ to use (default: java on PATH)
#   SUPPORTOPS_STATE_DIR     another state directory (data, configs, log, pid, lock)
#                            instead of .local: a second broker beside the first, with
#                            both ports set too (decision 0016); the jars stay shared
#   SUPPORTOPS_KAFKA_START_TIMEOUT  seconds to wait for the first metadata answer (90)
#
# Files: jars .local/kafka/libs; <state>/kafka/{data,server.properties,log4j2.properties},
#        log <state>/logs/kafka.log, pid <state>/run/kafka.pid (<state>: .local)
set -euo pipefail
# shellcheck disable=SC2034  # read by lib.sh
SVC=kafka
# shellcheck source=deploy/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KAFKA_HOST=127.0.0.1
KAFKA_PORT=${SUPPORTOPS_KAFKA_PORT:-9092}
CONTROLLER_PORT=${SUPPORTOPS_KAFKA_CONTROLLER_PORT:-9093}
[[ $KAFKA_PORT =~ ^[0-9]+$ && $CONTROLLER_PORT =~ ^[0-9]+$ ]] || die "Kafka ports must be numbers"
START_TIMEOUT=${SUPPORTOPS_KAFKA_START_TIMEOUT:-90}
STOP_TIMEOUT=60

SRC_DIR="$LOCAL_SCRIPTS_DIR/kafka"
POM="$SRC_DIR/pom.xml"
KAFKA_DIR="$STATE_DIR/kafka"
# the jars are a download, shared by every stack of this checkout (lib.sh: CACHE_DIR)
LIBS_PARENT="$CACHE_DIR/kafka"
LIBS="$LIBS_PARENT/libs"
LIBS_STAMP="$LIBS_PARENT/libs.pom-sha256"
DATA="$KAFKA_DIR/data"
CONF="$KAFKA_DIR/server.properties"
LOG4J_CONF="$KAFKA_DIR/log4j2.properties"
CLUSTER_ID_FILE="$KAFKA_DIR/cluster.id"
FORMATTED_PORT_FILE="$KAFKA_DIR/formatted-controller-port"
TOOLS_LOG4J="$SRC_DIR/tools-log4j2.properties"
CLIENT_CONF="$SRC_DIR/client.properties"
LOGFILE="$LOG_DIR/kafka.log"
BOOTSTRAP="$KAFKA_HOST:$KAFKA_PORT"
# A running broker is ours when its command line has both of these.
MARKERS=(kafka.Kafka "$CONF")

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"

check_java() {
  command -v "$JAVA" >/dev/null 2>&1 || die "java not found (Kafka 4 needs Java 17+; set JAVA_HOME)"
  local v
  v=$("$JAVA" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1)
  [[ ${v:-0} -ge 17 ]] || die "Kafka 4 needs Java 17+, found: $("$JAVA" -version 2>&1 | head -n1)"
}

kafka_version() {
  local jar
  for jar in "$LIBS"/kafka_2.13-*.jar; do
    [[ -e $jar ]] || break
    jar=${jar##*/kafka_2.13-}
    printf '%s' "${jar%.jar}"
    return 0
  done
  printf 'unknown'
}

pom_hash() { sha256sum "$POM" | cut -d' ' -f1; }

libs_fetched() {
  [[ -f $LIBS_STAMP && -d $LIBS ]] && compgen -G "$LIBS/kafka_2.13-*.jar" >/dev/null
}

# Fetch the broker jars once; again only when the pom changed.
fetch_libs() { with_cache_lock kafka-libs fetch_libs_locked; }

fetch_libs_locked() {
  local want
  want=$(pom_hash)
  if libs_fetched && [[ $(<"$LIBS_STAMP") == "$want" ]]; then
    return 0
  fi
  command -v mvn >/dev/null 2>&1 || die "mvn not found (needed once to fetch the Kafka jars)"
  info "fetching Kafka jars from Maven Central ($(rel "$POM") -> $(rel "$LIBS"))"
  local t0=$SECONDS tmp="$LIBS_PARENT/libs.new"
  mkdir -p "$LIBS_PARENT"
  rm -rf "$tmp"
  local mvnlog="$LOG_DIR/kafka-fetch.log"
  mkdir -p "$LOG_DIR"
  if ! mvn -B -q -Dstyle.color=never -f "$POM" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$tmp" >"$mvnlog" 2>&1 9>&-; then
    rm -rf "$tmp"
    show_log_tail "$mvnlog" 60
    die "mvn could not fetch the Kafka jars (full output: $(rel "$mvnlog"))"
  fi
  compgen -G "$tmp/kafka_2.13-*.jar" >/dev/null || die "mvn ran but no kafka_2.13 jar in $(rel "$tmp")"
  rm -rf "$LIBS"
  mv "$tmp" "$LIBS"
  printf '%s\n' "$want" >"$LIBS_STAMP"
  info "fetched $(find "$LIBS" -name '*.jar' | wc -l) jars (Kafka $(kafka_version)) in $((SECONDS - t0))s"
}

render_config() {
  mkdir -p "$DATA" "$LOG_DIR"
  render_template "$SRC_DIR/server.properties.template" "$CONF" \
    KAFKA_HOST="$KAFKA_HOST" KAFKA_PORT="$KAFKA_PORT" CONTROLLER_PORT="$CONTROLLER_PORT" \
    DATA_DIR="$DATA"
  render_template "$SRC_DIR/log4j2.properties.template" "$LOG4J_CONF" LOG_FILE="$LOGFILE"
}

# Runs a Kafka CLI class with the broker's classpath and quiet logging.
kafka_tool() {
  "$JAVA" -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$TOOLS_LOG4J" -cp "$LIBS/*" "$@"
}

format_storage() {
  if [[ -f $DATA/meta.properties ]]; then
    # The standalone voter's endpoint (controller port) is part of the formatted storage.
    if [[ -s $FORMATTED_PORT_FILE && $(<"$FORMATTED_PORT_FILE") != "$CONTROLLER_PORT" ]]; then
      die "$(rel "$DATA") was formatted with controller port $(<"$FORMATTED_PORT_FILE"), now $CONTROLLER_PORT: use that port, or delete $(rel "$DATA") (loses all topics) to reformat"
    fi
    return 0
  fi
  local cid
  if [[ -s $CLUSTER_ID_FILE ]]; then
    cid=$(<"$CLUSTER_ID_FILE")
  else
    cid=$(kafka_tool kafka.tools.StorageTool random-uuid | tail -n1)
    [[ $cid =~ ^[A-Za-z0-9_-]{22}$ ]] || die "StorageTool random-uuid returned '$cid'"
    printf '%s\n' "$cid" >"$CLUSTER_ID_FILE"
  fi
  info "formatting $(rel "$DATA") (cluster id $cid, standalone controller)"
  if ! kafka_tool kafka.tools.StorageTool format --standalone -t "$cid" -c "$CONF" >>"$LOGFILE" 2>&1; then
    show_log_tail "$LOGFILE" 20
    die "kafka-storage format failed"
  fi
  printf '%s\n' "$CONTROLLER_PORT" >"$FORMATTED_PORT_FILE"
}

# A metadata request (list topics) against $1 succeeds.
metadata_ok() {
  local bootstrap=$1 host port
  host=${bootstrap%%,*}
  port=${host##*:}
  host=${host%:*}
  # Cheap pre-check before paying for a JVM start.
  if [[ $host =~ ^[A-Za-z0-9.-]+$ && $port =~ ^[0-9]+$ ]]; then
    tcp_open "$host" "$port" || return 1
  fi
  timeout 40 "$JAVA" -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$TOOLS_LOG4J" -cp "$LIBS/*" \
    org.apache.kafka.tools.TopicCommand --bootstrap-server "$bootstrap" \
    --command-config "$CLIENT_CONF" --list >/dev/null 2>&1
}

# Prints the pid of our running broker (pid file, or adopted from the port's listener).
find_ours() {
  ours_pid kafka "${MARKERS[@]}" && return 0
  adopt_listener kafka "$KAFKA_PORT" "${MARKERS[@]}"
}

# Port of the running broker (from the config it was started with).
running_port() { sed -n 's|^listeners=PLAINTEXT://[^,]*:\([0-9][0-9]*\).*|\1|p' "$CONF" 2>/dev/null | head -n1; }

check_running_port() {
  local rp
  rp=$(running_port)
  if [[ -n $rp && $rp != "$KAFKA_PORT" ]]; then
    echo "kafka: running (pid $1) on port $rp, not $KAFKA_PORT as SUPPORTOPS_KAFKA_PORT asks: stop it first to change ports"
    return 1
  fi
}

wait_ready() {
  local pid=$1 rc=0
  WAIT_WHILE_PID=$pid wait_until "$START_TIMEOUT" 1 metadata_ok "$BOOTSTRAP" || rc=$?
  case $rc in
    0) return 0 ;;
    2)
      show_log_tail "$LOGFILE"
      die "broker (pid $pid) exited during startup"
      ;;
    *)
      show_log_tail "$LOGFILE"
      die "broker (pid $pid) not ready after ${START_TIMEOUT}s: metadata request to $BOOTSTRAP still failing"
      ;;
  esac
}

external() { [[ -n ${KAFKA_BOOTSTRAP_SERVERS:-} ]]; }

cmd_start() {
  if external; then
    info "external broker used (KAFKA_BOOTSTRAP_SERVERS=$KAFKA_BOOTSTRAP_SERVERS); not starting one"
    return 0
  fi
  acquire_lock kafka
  check_java
  local pid t0=$SECONDS
  if pid=$(find_ours); then
    libs_fetched || die "broker running (pid $pid) but $(rel "$LIBS") is missing"
    local msg
    msg=$(check_running_port "$pid") || die "${msg#*: }"
    wait_ready "$pid"
    info "already running (pid $pid) on $BOOTSTRAP"
    return 0
  fi
  local port
  for port in "$KAFKA_PORT" "$CONTROLLER_PORT"; do
    if tcp_open "$KAFKA_HOST" "$port"; then
      die "port $port on $KAFKA_HOST is already in use by $(describe_port_owner "$port"), which is not this checkout's broker. Stop it, or set KAFKA_BOOTSTRAP_SERVERS to use a broker that is already running."
    fi
  done
  fetch_libs
  render_config
  format_storage
  info "starting Kafka $(kafka_version) on $BOOTSTRAP (log $(rel "$LOGFILE"))"
  printf '\n===== %s kafka.sh start (Kafka %s) =====\n' "$(date -u +%FT%TZ)" "$(kafka_version)" >>"$LOGFILE"
  local -a heap
  read -r -a heap <<<"${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g}"
  # cwd .local/kafka: a JVM crash file (hs_err_pid*.log) lands there, not in the repo.
  DAEMON_CWD=$KAFKA_DIR start_daemon kafka "$LOGFILE" "$JAVA" "${heap[@]}" -server \
    -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
    -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$LOG4J_CONF" -Dkafka.logs.dir="$LOG_DIR" \
    -cp "$LIBS/*" kafka.Kafka "$CONF"
  pid=$DAEMON_PID
  wait_ready "$pid"
  info "ready (pid $pid) on $BOOTSTRAP after $((SECONDS - t0))s"
}

cmd_stop() {
  if external; then
    info "external broker used (KAFKA_BOOTSTRAP_SERVERS=$KAFKA_BOOTSTRAP_SERVERS); nothing to stop"
    return 0
  fi
  acquire_lock kafka
  local pid
  if ! pid=$(find_ours); then
    info "not running"
    return 0
  fi
  info "stopping (pid $pid)"
  stop_pid "$pid" TERM "$STOP_TIMEOUT"
  rm -f "$(pid_file kafka)"
  info "stopped"
}

cmd_status() {
  if external; then
    local first=${KAFKA_BOOTSTRAP_SERVERS%%,*} ok=1
    if libs_fetched && command -v "$JAVA" >/dev/null 2>&1; then
      metadata_ok "$KAFKA_BOOTSTRAP_SERVERS" || ok=0
      if ((ok)); then
        echo "kafka: external ($KAFKA_BOOTSTRAP_SERVERS), metadata request OK"
        return 0
      fi
      echo "kafka: external ($KAFKA_BOOTSTRAP_SERVERS), metadata request FAILED"
    else
      if tcp_open "${first%:*}" "${first##*:}"; then
        echo "kafka: external ($KAFKA_BOOTSTRAP_SERVERS), port open (jars not fetched, metadata not checked)"
        return 0
      fi
      echo "kafka: external ($KAFKA_BOOTSTRAP_SERVERS), NOT reachable"
    fi
    return "$EXIT_NOT_RUNNING"
  fi
  local pid
  if ! pid=$(find_ours); then
    if tcp_open "$KAFKA_HOST" "$KAFKA_PORT"; then
      echo "kafka: stopped (but $BOOTSTRAP is in use by $(describe_port_owner "$KAFKA_PORT"))"
    else
      echo "kafka: stopped"
    fi
    return "$EXIT_NOT_RUNNING"
  fi
  check_running_port "$pid" || return "$EXIT_NOT_RUNNING"
  if metadata_ok "$BOOTSTRAP"; then
    echo "kafka: running (pid $pid, Kafka $(kafka_version)) on $BOOTSTRAP, log $(rel "$LOGFILE")"
    return 0
  fi
  echo "kafka: unhealthy (pid $pid alive, metadata request to $BOOTSTRAP failed), log $(rel "$LOGFILE")"
  return "$EXIT_NOT_RUNNING"
}

cmd_topics() {
  local bootstrap=${KAFKA_BOOTSTRAP_SERVERS:-$BOOTSTRAP}
  check_java
  if ! libs_fetched; then
    acquire_lock kafka
    fetch_libs
  fi
  local -a args=("$@")
  ((${#args[@]})) || args=(--list)
  local -a conf=(--command-config "$CLIENT_CONF")
  local a
  for a in "${args[@]}"; do
    [[ $a == --command-config* ]] && conf=()
  done
  kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$bootstrap" "${conf[@]}" "${args[@]}"
}

dispatch "$@"
