#!/usr/bin/env bash
# Local Zipkin (zipkin-server, pinned, an executable jar from Maven Central) for supportops:
# the trace UI. Zipkin's Lens UI and API on http://127.0.0.1:9411 (/zipkin/, /api/v2),
# loopback only; spans kept in memory (the newest 100000) until it stops.
#
#   deploy/local/zipkin.sh start|stop|status|url|install
#
# start   download io.zipkin:zipkin-server:<pinned>:exec into .local/lib once (checked
#         against the SHA-512 pinned here), start it, wait until GET /api/v2/services
#         answers 200
# stop    SIGTERM, SIGKILL after 20 s
# status  exit 0 when GET /api/v2/services answers 200, 3 otherwise
# url     print the UI's address (a trace: <url>traces/<trace id>)
# install only download and check the jar (.ci/run does it before the tests)
#
# Where its spans come from: Zipkin has no OTLP receiver, so it is fed FROM Jaeger
# (deploy/local/jaeger.sh): Jaeger's pipeline copies every span, Zipkin-JSON encoded, onto
# the Kafka topic <KAFKA_TOPIC_PREFIX>zipkin of the stack's broker, and Zipkin's Kafka
# collector reads that topic (created here too when missing). Start Jaeger first.
#
# Environment:
#   SUPPORTOPS_ZIPKIN=off           start does nothing (and Jaeger copies nothing)
#   SUPPORTOPS_ZIPKIN_PORT          the UI/API port (9411)
#   KAFKA_BOOTSTRAP_SERVERS, SUPPORTOPS_KAFKA_PORT, KAFKA_TOPIC_PREFIX  the stack's broker
#                                   and topic prefix, as for the services and jaeger.sh;
#                                   SUPPORTOPS_ZIPKIN_TOPIC names the topic outright
#   SUPPORTOPS_ZIPKIN_HEAP          the JVM's -Xmx (256m); SUPPORTOPS_ZIPKIN_MAX_SPANS (100000)
#   SUPPORTOPS_ZIPKIN_START_TIMEOUT seconds to wait for it (120: a JVM on a busy machine)
#   SUPPORTOPS_MAVEN_REPO           a Maven Central mirror (https://repo1.maven.org/maven2)
#   JAVA_HOME                       the Java (17+) to run it with; else `java` on PATH
#   SUPPORTOPS_STATE_DIR            another state directory (log, pid, lock) for a second
#                                   stack (decision 0016; set SUPPORTOPS_ZIPKIN_PORT too);
#                                   the jar stays shared
#
# Files: jar .local/lib/zipkin-server-<version>-exec.jar, log <state>/logs/zipkin.log,
#        pid <state>/run/zipkin.pid (<state>: .local)
set -euo pipefail
# shellcheck disable=SC2034  # read by lib.sh
SVC=zipkin
# shellcheck source=deploy/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ZIPKIN_VERSION=3.6.1
# sha512 of zipkin-server-3.6.1-exec.jar, as Maven Central publishes it (the .sha512 beside it)
ZIPKIN_SHA512=99494fd7c59dd247a7ba4e52826f57fa80addfa790a0ee5735ef27ba6935655e5b9ced8192007ccab54da277506213c4c4def2e286605d2b07b6bbfac14b4b8e
MAVEN_REPO=${SUPPORTOPS_MAVEN_REPO:-https://repo1.maven.org/maven2}
JAR_NAME="zipkin-server-$ZIPKIN_VERSION-exec.jar"
JAR_URL="$MAVEN_REPO/io/zipkin/zipkin-server/$ZIPKIN_VERSION/$JAR_NAME"
LIB_DIR="$CACHE_DIR/lib"
JAR="$LIB_DIR/$JAR_NAME"
HOST=127.0.0.1
PORT=${SUPPORTOPS_ZIPKIN_PORT:-9411}
HEAP=${SUPPORTOPS_ZIPKIN_HEAP:-256m}
MAX_SPANS=${SUPPORTOPS_ZIPKIN_MAX_SPANS:-100000}
START_TIMEOUT=${SUPPORTOPS_ZIPKIN_START_TIMEOUT:-120}
STOP_TIMEOUT=20
LOGFILE="$LOG_DIR/zipkin.log"
BASE="http://$HOST:$PORT"
JAVA=${JAVA_HOME:+$JAVA_HOME/bin/}java
# Every stack runs the same jar: a system property naming this stack's state dir tells
# its instance apart (adopted and stopped only by this stack's scripts).
STACK_MARK="-Dsupportops.stack=$STATE_DIR/zipkin"
MARKERS=("$STACK_MARK" -jar "$JAR")

[[ $PORT =~ ^[0-9]+$ ]] || die "SUPPORTOPS_ZIPKIN_PORT must be a number"
[[ $MAX_SPANS =~ ^[0-9]+$ ]] || die "SUPPORTOPS_ZIPKIN_MAX_SPANS must be a number"
[[ $HEAP =~ ^[0-9]+[kmgKMG]?$ ]] || die "SUPPORTOPS_ZIPKIN_HEAP must look like 256m"

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

# Checked once, at download; the hash it had is recorded beside it (hashing 135 MB on
# every start would cost a second of CPU each time).
jar_ok() {
  local recorded
  [[ -r $JAR && -r $JAR.sha512 ]] || return 1
  read -r recorded <"$JAR.sha512" || return 1
  [[ $recorded == "$ZIPKIN_SHA512" ]]
}

ensure_jar() { with_cache_lock zipkin-download ensure_jar_locked; }

ensure_jar_locked() {
  jar_ok && return 0
  command -v curl >/dev/null 2>&1 || die "curl is needed once to download Zipkin ($JAR_URL)"
  local t0=$SECONDS tmp="$JAR.part.$$" got
  mkdir -p "$LIB_DIR"
  info "downloading $JAR_URL -> $(rel "$LIB_DIR") (once; about 135 MB)"
  if ! curl -fsSL --retry 3 --connect-timeout 20 -o "$tmp" "$JAR_URL"; then
    rm -f "$tmp"
    die "downloading $JAR_URL failed"
  fi
  got=$(sha512sum "$tmp" | cut -d' ' -f1)
  if [[ $got != "$ZIPKIN_SHA512" ]]; then
    rm -f "$tmp"
    die "$JAR_NAME has SHA-512 $got, expected $ZIPKIN_SHA512 (pinned in $(rel "${BASH_SOURCE[0]}")); not used"
  fi
  mv -f "$tmp" "$JAR"
  printf '%s\n' "$got" >"$JAR.sha512"
  info "downloaded Zipkin $ZIPKIN_VERSION in $((SECONDS - t0))s (SHA-512 checked)"
}

api_ok() { [[ $(http_status "$BASE/api/v2/services") == 200 ]]; }

find_ours() {
  ours_pid zipkin "${MARKERS[@]}" && return 0
  adopt_listener zipkin "$PORT" "${MARKERS[@]}"
}

cmd_start() {
  if ! zipkin_enabled; then
    info "SUPPORTOPS_ZIPKIN=off; not starting Zipkin"
    return 0
  fi
  acquire_lock zipkin
  local pid t0=$SECONDS rc=0 topic bootstrap
  if pid=$(find_ours); then
    WAIT_WHILE_PID=$pid wait_until "$START_TIMEOUT" 0.5 api_ok ||
      die "Zipkin (pid $pid) running but $BASE/api/v2/services does not answer 200"
    info "already running (pid $pid), UI $BASE/zipkin/"
    return 0
  fi
  if tcp_open "$HOST" "$PORT"; then
    die "port $PORT on $HOST is already in use by $(describe_port_owner "$PORT"), which is not this stack's Zipkin. Stop it, or set SUPPORTOPS_ZIPKIN_PORT."
  fi
  command -v "$JAVA" >/dev/null 2>&1 || die "Java 17+ is needed to run Zipkin ($JAVA not found)"
  ensure_jar
  topic=$(zipkin_topic)
  bootstrap=$(stack_kafka_bootstrap)
  printf '\n===== %s zipkin.sh start (%s) =====\n' "$(date -u +%FT%TZ)" "$ZIPKIN_VERSION" >>"$LOGFILE"
  ensure_kafka_topic "$bootstrap" "$topic" >>"$LOGFILE" 2>&1 ||
    warn "could not create the Kafka topic $topic on $bootstrap: Zipkin waits for it"
  info "starting Zipkin $ZIPKIN_VERSION: UI $BASE/zipkin/, reading $topic on $bootstrap (log $(rel "$LOGFILE"))"
  # Zipkin's settings (zipkin-server-shared.yml in the jar): environment variables where
  # it maps one, Spring properties otherwise. In-memory storage; the Kafka collector on
  # this stack's topic, in its own consumer group, from the topic's start (a fresh
  # in-memory Zipkin shows what Jaeger copied before it started); the one HTTP port
  # (Armeria's list, replaced whole: ip, port, protocol) on loopback only. The JVM is
  # kept small: the serial GC and C1 alone start faster and use less memory.
  DAEMON_CWD=$STATE_DIR start_daemon zipkin "$LOGFILE" env \
    STORAGE_TYPE=mem SELF_TRACING_ENABLED=false \
    KAFKA_BOOTSTRAP_SERVERS="$bootstrap" KAFKA_TOPIC="$topic" \
    KAFKA_GROUP_ID="supportops-zipkin.$topic" KAFKA_STREAMS=1 \
    "$JAVA" -Xms64m -Xmx"$HEAP" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xss512k \
    "$STACK_MARK" -jar "$JAR" \
    "--armeria.ports[0].ip=$HOST" "--armeria.ports[0].port=$PORT" \
    "--armeria.ports[0].protocols[0]=http" \
    "--zipkin.storage.mem.max-spans=$MAX_SPANS" \
    --zipkin.collector.kafka.overrides.auto.offset.reset=earliest
  pid=$DAEMON_PID
  WAIT_WHILE_PID=$pid wait_until "$START_TIMEOUT" 0.5 api_ok || rc=$?
  if ((rc != 0)); then
    show_log_tail "$LOGFILE"
    ((rc == 2)) && die "Zipkin (pid $pid) exited during startup"
    die "Zipkin (pid $pid) not answering on $BASE/api/v2/services after ${START_TIMEOUT}s"
  fi
  info "ready (pid $pid), UI $BASE/zipkin/ after $((SECONDS - t0))s"
}

cmd_stop() {
  acquire_lock zipkin
  local pid
  if ! pid=$(find_ours); then
    info "not running"
    return 0
  fi
  info "stopping (pid $pid)"
  stop_pid "$pid" TERM "$STOP_TIMEOUT"
  rm -f "$(pid_file zipkin)"
  info "stopped"
}

cmd_status() {
  if ! zipkin_enabled; then
    echo "zipkin: not used (SUPPORTOPS_ZIPKIN=off)"
    return 0
  fi
  local pid
  if ! pid=$(find_ours); then
    echo "zipkin: stopped"
    return "$EXIT_NOT_RUNNING"
  fi
  if api_ok; then
    echo "zipkin: running (pid $pid, $ZIPKIN_VERSION), UI $BASE/zipkin/, reading $(zipkin_topic) on $(stack_kafka_bootstrap), log $(rel "$LOGFILE")"
    return 0
  fi
  echo "zipkin: unhealthy (pid $pid alive, $BASE/api/v2/services not 200), log $(rel "$LOGFILE")"
  return "$EXIT_NOT_RUNNING"
}

cmd_url() { printf '%s/zipkin/\n' "$BASE"; }

cmd_install() {
  ensure_jar
  info "Zipkin $ZIPKIN_VERSION: $(rel "$JAR")"
}

dispatch "$@"
