# shellcheck shell=bash
# Shared helpers for deploy/local/{kafka,postgres,stripe-mock,infra}.sh — sourced, not run.
#
# The sourcing script sets SVC (its short name) first. Everything downloaded or
# generated lives under <repo>/.local (git-ignored); the repo root is derived from this
# file's location, so the scripts work from any clone path and any working directory.
#
# Two kinds of files (decision 0016):
#   CACHE_DIR  <repo>/.local: downloads and builds (binaries in .local/bin, the Kafka
#              jars, the pgserver venv), shared by every stack of this checkout
#   STATE_DIR  what one running stack owns: data, configs, logs, pid and lock files.
#              <repo>/.local, or SUPPORTOPS_STATE_DIR for a second stack beside the
#              first (with the SUPPORTOPS_*_PORT overrides): its scripts then find, adopt
#              and stop only the processes recorded there, never the first stack's
#
# Conventions shared by every script:
#   start   idempotent; already running -> success without restarting
#   stop    idempotent; stops only the process recorded in <state>/run/<name>.pid, after
#           checking that its command line is ours; SIGTERM (or the service's own
#           shutdown signal), then SIGKILL after a timeout
#   status  one line on stdout; exit 0 = running and healthy, 3 = anything else
#   logs    <state>/logs/<name>.log      pids  <state>/run/<name>.pid

LOCAL_SCRIPTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
ROOT="$(cd "$LOCAL_SCRIPTS_DIR/../.." && pwd -P)"
CACHE_DIR="$ROOT/.local"
if [[ -n ${SUPPORTOPS_STATE_DIR:-} ]]; then
  mkdir -p "$SUPPORTOPS_STATE_DIR"
  STATE_DIR="$(cd "$SUPPORTOPS_STATE_DIR" && pwd -P)"
else
  STATE_DIR="$CACHE_DIR"
fi
LOG_DIR="$STATE_DIR/logs"
RUN_DIR="$STATE_DIR/run"
BIN_DIR="$CACHE_DIR/bin"

# shellcheck disable=SC2034  # used by the sourcing scripts
EXIT_NOT_RUNNING=3
SVC="${SVC:-infra}"

# Background jobs must not get their own process group, or `setsid` below would fork and
# $! would no longer be the daemon's pid.
set +m
# bash 5.2: '&' in ${var//pat/rep} would otherwise mean "the match".
shopt -u patsub_replacement 2>/dev/null || true

# ---------------------------------------------------------------- output

info() { printf '[%s] %s\n' "$SVC" "$*"; }
warn() { printf '[%s] WARNING: %s\n' "$SVC" "$*" >&2; }
die() {
  printf '[%s] ERROR: %s\n' "$SVC" "$*" >&2
  exit 1
}

# Prints a path relative to the repo root when it is inside it (shorter messages).
rel() {
  case "$1" in
    "$ROOT"/*) printf '%s' "${1#"$ROOT"/}" ;;
    *) printf '%s' "$1" ;;
  esac
}

# show_log_tail FILE [LINES] — for failure messages.
show_log_tail() {
  local file=$1 lines=${2:-40}
  if [[ -s $file ]]; then
    printf '[%s] ---- last %s lines of %s ----\n' "$SVC" "$lines" "$(rel "$file")" >&2
    tail -n "$lines" "$file" >&2 || true
    printf '[%s] ----\n' "$SVC" >&2
  fi
}

ensure_dirs() { mkdir -p "$LOG_DIR" "$RUN_DIR" "$BIN_DIR"; }

# ---------------------------------------------------------------- locking

# Serialises start/stop of one service across concurrent invocations. Holds fd 9 until
# the script exits; every daemon we launch gets 9>&- so it never inherits the lock.
acquire_lock() {
  local name=$1
  ensure_dirs
  command -v flock >/dev/null 2>&1 || return 0
  exec 9>"$RUN_DIR/$name.lock"
  flock -w 600 9 || die "timed out waiting for $(rel "$RUN_DIR/$name.lock") (another start/stop running?)"
}

# with_cache_lock NAME CMD... — runs CMD (a download or build into CACHE_DIR) holding
# <repo>/.local/run/NAME.lock: stacks with different state dirs share the cache, so two
# of them starting at once must not fetch into the same place together. fd 8, released
# when CMD ends (CMD runs in a subshell), so no daemon started later inherits it.
with_cache_lock() {
  local name=$1
  shift
  mkdir -p "$CACHE_DIR/run"
  if ! command -v flock >/dev/null 2>&1; then
    "$@"
    return
  fi
  (
    flock -w 600 8 || die "timed out waiting for $(rel "$CACHE_DIR/run/$name.lock") (another download running?)"
    "$@"
  ) 8>"$CACHE_DIR/run/$name.lock"
}

# ---------------------------------------------------------------- processes

pid_file() { printf '%s/%s.pid' "$RUN_DIR" "$1"; }

proc_cmdline() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null; }

# One-letter process state (R, S, Z, ...) or failure if the process is gone.
proc_state() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  printf '%s' "${stat%% *}"
}

pid_alive() {
  local st
  [[ $1 =~ ^[0-9]+$ ]] || return 1
  kill -0 "$1" 2>/dev/null || [[ -d /proc/$1 ]] || return 1
  st=$(proc_state "$1") || return 1
  [[ $st != Z && $st != X ]]
}

# cmdline_has PID MARKER... — the process's command line contains every marker.
cmdline_has() {
  local pid=$1 cmd m
  shift
  cmd=$(proc_cmdline "$pid") || return 1
  [[ -n $cmd ]] || return 1
  for m in "$@"; do
    [[ $cmd == *"$m"* ]] || return 1
  done
}

# ours_pid NAME MARKER... — prints the pid recorded for NAME when that process is alive
# and its command line contains every marker. A stale pid file is removed.
ours_pid() {
  local name=$1 f pid=""
  shift
  f=$(pid_file "$name")
  [[ -r $f ]] || return 1
  read -r pid <"$f" || true
  if pid_alive "$pid" && cmdline_has "$pid" "$@"; then
    printf '%s\n' "$pid"
    return 0
  fi
  rm -f "$f"
  return 1
}

# record_pid NAME PID
record_pid() {
  ensure_dirs
  printf '%s\n' "$2" >"$(pid_file "$1")"
}

# start_daemon NAME LOGFILE CMD... — runs CMD in its own session (survives the calling
# shell and its terminal), stdin from /dev/null, stdout+stderr appended to LOGFILE, with
# SIGINT/SIGQUIT restored to their defaults (bash ignores them in background jobs), and
# working directory DAEMON_CWD (default: the repo root; never the caller's, which may go
# away). Records and sets DAEMON_PID.
start_daemon() {
  local name=$1 logfile=$2
  shift 2
  ensure_dirs
  local -a envcmd=()
  if env --default-signal=INT true 2>/dev/null; then
    envcmd=(env "--default-signal=INT,QUIT")
  fi
  # The subshell execs setsid, which (not being a process-group leader, see set +m above)
  # execs the command in place: $! is the daemon's own pid.
  (cd "${DAEMON_CWD:-$ROOT}" && exec setsid "${envcmd[@]}" "$@") </dev/null >>"$logfile" 2>&1 9>&- &
  DAEMON_PID=$!
  record_pid "$name" "$DAEMON_PID"
}

# wait_pid_exit PID TIMEOUT_S
wait_pid_exit() {
  local pid=$1 deadline=$((SECONDS + $2))
  while pid_alive "$pid"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

# stop_pid PID SIGNAL TIMEOUT_S — sends SIGNAL, waits; SIGKILL (to the whole process
# group when PID leads one, so no orphaned children remain) if it is still alive.
stop_pid() {
  local pid=$1 sig=$2 timeout=$3 pgid
  kill -s "$sig" "$pid" 2>/dev/null || true
  wait_pid_exit "$pid" "$timeout" && return 0
  warn "pid $pid still running ${timeout}s after SIG$sig; sending SIGKILL"
  pgid=$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ') || true
  if [[ $pgid == "$pid" ]]; then
    kill -s KILL -- "-$pid" 2>/dev/null || true
  else
    kill -s KILL "$pid" 2>/dev/null || true
  fi
  wait_pid_exit "$pid" 15 || die "pid $pid survived SIGKILL"
}

# wait_until TIMEOUT_S INTERVAL_S CMD... — retries CMD until it succeeds; fails on timeout.
# If WAIT_WHILE_PID is set, gives up early when that process dies.
wait_until() {
  local timeout=$1 interval=$2 deadline
  shift 2
  deadline=$((SECONDS + timeout))
  while :; do
    "$@" && return 0
    if [[ -n ${WAIT_WHILE_PID:-} ]] && ! pid_alive "$WAIT_WHILE_PID"; then
      return 2
    fi
    ((SECONDS < deadline)) || return 1
    sleep "$interval"
  done
}

# ---------------------------------------------------------------- network

# tcp_open HOST PORT — something accepts connections there.
tcp_open() {
  # shellcheck disable=SC2016  # expanded by the inner bash
  timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# listener_pids PORT — pids of processes listening on TCP PORT (needs ss; may be empty
# when the owner is not visible to us).
listener_pids() {
  command -v ss >/dev/null 2>&1 || return 0
  ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u || true
}

# describe_port_owner PORT — "pid 123 (cmdline...)" or "an unknown process".
describe_port_owner() {
  local pids pid cmd out=""
  pids=$(listener_pids "$1")
  for pid in $pids; do
    cmd=$(proc_cmdline "$pid" | cut -c1-120)
    out+="${out:+, }pid $pid (${cmd% })"
  done
  printf '%s' "${out:-an unknown process (not visible to $(id -un))}"
}

# adopt_listener NAME PORT MARKER... — when a process of ours (by markers, and working
# directory ADOPT_CWD when set) listens on PORT but its pid file is missing, re-record it
# and print its pid.
adopt_listener() {
  local name=$1 port=$2 pid
  shift 2
  for pid in $(listener_pids "$port"); do
    if [[ -n ${ADOPT_CWD:-} && $(readlink "/proc/$pid/cwd" 2>/dev/null) != "$ADOPT_CWD" ]]; then
      continue
    fi
    if pid_alive "$pid" && cmdline_has "$pid" "$@"; then
      record_pid "$name" "$pid"
      printf '%s\n' "$pid"
      return 0
    fi
  done
  return 1
}

# http_status URL [HEADER...] — prints the HTTP status code (000 when unreachable).
http_status() {
  local url=$1 h
  shift
  if command -v curl >/dev/null 2>&1; then
    local -a args=(-s -o /dev/null -w '%{http_code}' --max-time 5)
    for h in "$@"; do args+=(-H "$h"); done
    curl "${args[@]}" "$url" || true
    return 0
  fi
  # Fallback without curl: plain HTTP only.
  local rest hostport host port path line
  [[ $url == http://* ]] || { printf '000'; return 0; }
  rest=${url#http://}
  hostport=${rest%%/*}
  path=/${rest#*/}
  [[ $rest == */* ]] || path=/
  host=${hostport%:*}
  port=${hostport##*:}
  [[ $hostport == *:* ]] || port=80
  # shellcheck disable=SC2016  # expanded by the inner bash
  line=$(timeout 5 bash -c '
    exec 3<>"/dev/tcp/$1/$2" || exit 1
    printf "GET %s HTTP/1.0\r\nHost: %s\r\n" "$3" "$1" >&3
    shift 3
    for h in "$@"; do printf "%s\r\n" "$h" >&3; done
    printf "\r\n" >&3
    head -n1 <&3' _ "$host" "$port" "$path" "$@" 2>/dev/null) || true
  line=${line#HTTP/* }
  printf '%s' "${line:0:3}" | grep -E '^[0-9]{3}$' || printf '000'
}

# ---------------------------------------------------------------- files

# render_template SRC DST KEY=VALUE... — replaces @KEY@ by VALUE; fails on leftovers.
render_template() {
  local src=$1 dst=$2 content kv key val tmp
  shift 2
  content=$(<"$src")
  for kv in "$@"; do
    key=${kv%%=*}
    val=${kv#*=}
    content=${content//"@$key@"/"$val"}
  done
  if [[ $content =~ @[A-Z][A-Z0-9_]*@ ]]; then
    die "template $(rel "$src") still has placeholder ${BASH_REMATCH[0]}"
  fi
  tmp="$dst.tmp.$$"
  printf '%s\n' "$content" >"$tmp"
  mv -f "$tmp" "$dst"
}

# ---------------------------------------------------------------- the Zipkin feed

# Jaeger (deploy/local/jaeger.sh) copies every span, Zipkin-JSON encoded, onto a Kafka
# topic of the stack's broker, and the local Zipkin (deploy/local/zipkin.sh) reads it:
# Zipkin's Lens UI is the trace UI here (decision 0029). SUPPORTOPS_ZIPKIN=off: neither.
zipkin_enabled() { [[ ${SUPPORTOPS_ZIPKIN:-on} != off ]]; }

# The stack's Kafka, as the services find it (servicekit.localstack).
stack_kafka_bootstrap() {
  printf '%s' "${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:${SUPPORTOPS_KAFKA_PORT:-9092}}"
}

# The stack's topic prefix + "zipkin"; SUPPORTOPS_ZIPKIN_TOPIC names another.
zipkin_topic() { printf '%s' "${SUPPORTOPS_ZIPKIN_TOPIC:-${KAFKA_TOPIC_PREFIX:-}zipkin}"; }

# ensure_kafka_topic BOOTSTRAP TOPIC — creates TOPIC (one partition) when it is missing:
# the local broker does not create topics on first use (auto.create.topics.enable=false,
# as in production). Through the workspace's Python (servicekit.kafka.ensure_topics), so
# a broker elsewhere (KAFKA_BOOTSTRAP_SERVERS) needs no Kafka CLI here.
ensure_kafka_topic() {
  local py="$ROOT/.venv/bin/python"
  if [[ ! -x $py ]]; then
    warn "$(rel "$py") is missing (make install): cannot create the Kafka topic $2"
    return 1
  fi
  # shellcheck disable=SC2016  # Python, not shell
  timeout 60 "$py" -c '
import asyncio, sys
from servicekit.kafka import ensure_topics
asyncio.run(ensure_topics({"bootstrap_servers": sys.argv[1]}, [sys.argv[2]], partitions=1, timeout=20))
' "$1" "$2" 9>&- 8>&-
}

# ---------------------------------------------------------------- entry point

# dispatch "$@" — calls cmd_<subcommand> defined by the sourcing script.
dispatch() {
  local sub=${1:-}
  [[ $# -gt 0 ]] && shift
  case "$sub" in
    -h | --help | help | "")
      usage
      [[ -n $sub ]] || exit 2
      ;;
    *)
      if [[ $sub =~ ^[a-z][a-z-]*$ ]] && declare -F "cmd_${sub//-/_}" >/dev/null; then
        "cmd_${sub//-/_}" "$@"
      else
        usage >&2
        exit 2
      fi
      ;;
  esac
}
