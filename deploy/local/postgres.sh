#!/usr/bin/env bash
# Local PostgreSQL for supportops: one dev/test cluster on 127.0.0.1 (port 5432 unless
# SUPPORTOPS_PG_PORT says otherwise), superuser supportops / password supportops, with the
# service databases tickets, billing, onboarding, escalation (pg_trgm in escalation).
#
#   deploy/local/postgres.sh start|stop|status
#
# start   initdb once (.local/pg/data), start, wait for pg_isready, ensure the databases
#         and extensions exist (also when already running)
# stop    fast shutdown (SIGINT: disconnects clients), SIGKILL after 60 s
# status  exit 0 when pg_isready passes and the four databases exist, 3 otherwise
#
# Binaries: the newest system PostgreSQL (/usr/lib/postgresql/<v>/bin, else initdb on
# PATH); without one, the `pgserver` wheel from PyPI (PostgreSQL 16) installed into
# .local/pgserver-venv. An existing data dir is started with binaries of its major version.
# Caveat: the pgserver wheel has no contrib modules, so no pg_trgm (start warns).
# As root, initdb/postgres run as the `postgres` system user (created as `supportops`
# when there is none): the server refuses to run as root.
#
# Environment:
#   SUPPORTOPS_PG_PORT      TCP port (default 5432)
#   SUPPORTOPS_PG_EMBEDDED  1 = use the pgserver wheel even when a system PostgreSQL exists
#   SUPPORTOPS_PG_BIN       directory with initdb/pg_ctl/postgres to use instead
#   SUPPORTOPS_STATE_DIR    another state directory for the whole stack (data, sockets,
#                           log, pid, lock) instead of .local: a second stack beside the
#                           first, with SUPPORTOPS_PG_PORT set too (decision 0016)
#   SUPPORTOPS_PG_STATE_DIR the same for this cluster only (wins over SUPPORTOPS_STATE_DIR):
#                           a throwaway cluster beside the first (the crash and outage
#                           tests start one on a free port with this and SUPPORTOPS_PG_PORT)
#   TICKET_DATABASE_URL, BILLING_DATABASE_URL, ONBOARDING_DATABASE_URL,
#   ESCALATION_DATABASE_URL  when all four are set, an external server is used:
#                            start/stop do nothing, status checks each URL
#
# URLs: postgresql://supportops:supportops@127.0.0.1:5432/{tickets,billing,onboarding,escalation}
# Files: data <state>/pg/data, sockets <state>/pg/run, log <state>/logs/postgres.log,
#        pid <state>/run/postgres.pid (<state>: .local)
set -euo pipefail
# shellcheck disable=SC2034  # read by lib.sh
SVC=postgres
# shellcheck source=deploy/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PG_HOST=127.0.0.1
PG_PORT=${SUPPORTOPS_PG_PORT:-5432}
PG_SUPERUSER=supportops
PG_PASSWORD=supportops
DATABASES=(tickets billing onboarding escalation)
STOP_TIMEOUT=60
START_TIMEOUT=60
PGSERVER_VERSION=0.1.4
PGSERVER_VENV="$CACHE_DIR/pgserver-venv"  # shared by every cluster of this checkout

if [[ -n ${SUPPORTOPS_PG_STATE_DIR:-} ]]; then
  mkdir -p "$SUPPORTOPS_PG_STATE_DIR"
  STATE_DIR="$(cd "$SUPPORTOPS_PG_STATE_DIR" && pwd -P)"
  LOG_DIR="$STATE_DIR/logs"
  RUN_DIR="$STATE_DIR/run"
fi

PG_BASE="$STATE_DIR/pg"
PGDATA_DIR="$PG_BASE/data"
SOCK_DIR="$PG_BASE/run"
LOGFILE="$LOG_DIR/postgres.log"
# Our postmaster's command line is `<bin>/postgres -D <data dir>`.
MARKERS=(postgres "-D" "$PGDATA_DIR")

[[ $PG_PORT =~ ^[0-9]+$ ]] || die "SUPPORTOPS_PG_PORT must be a port number, got '$PG_PORT'"

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

external() {
  [[ -n ${TICKET_DATABASE_URL:-} && -n ${BILLING_DATABASE_URL:-} &&
    -n ${ONBOARDING_DATABASE_URL:-} && -n ${ESCALATION_DATABASE_URL:-} ]]
}

# ---------------------------------------------------------------- binaries

PG_BIN=""
PG_FLAVOR=""

# "postgres (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)" -> 15
pg_major_of_bin() { "$1/postgres" --version 2>/dev/null | sed -n 's/^postgres (PostgreSQL) \([0-9][0-9]*\).*/\1/p' | head -n1; }

embedded_bin() {
  local py="$PGSERVER_VENV/bin/python"
  [[ -x $py ]] || return 1
  "$py" - <<'EOF' 2>/dev/null
import importlib.util, pathlib, sys
spec = importlib.util.find_spec("pgserver")
if spec is None or not spec.origin:
    sys.exit(1)
b = pathlib.Path(spec.origin).parent / "pginstall" / "bin"
if not (b / "pg_ctl").exists():
    sys.exit(1)
print(b)
EOF
}

system_bins() {
  # Newest first: Debian/Ubuntu layout, then whatever initdb is on PATH.
  local d
  find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin 2>/dev/null | sort -V -r |
    while read -r d; do [[ -x $d/initdb && -x $d/pg_ctl ]] && printf '%s\n' "$d"; done || true
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
  fi
}

# choose_bin [install] — sets PG_BIN/PG_FLAVOR; with "install", may pip-install pgserver.
choose_bin() {
  local install=${1:-} want="" d
  [[ -f $PGDATA_DIR/PG_VERSION ]] && want=$(<"$PGDATA_DIR/PG_VERSION")
  if [[ -n ${SUPPORTOPS_PG_BIN:-} ]]; then
    PG_BIN=$SUPPORTOPS_PG_BIN PG_FLAVOR=custom
    return 0
  fi
  if [[ ${SUPPORTOPS_PG_EMBEDDED:-0} != 1 ]]; then
    local -a cands
    mapfile -t cands < <(system_bins)
    for d in "${cands[@]}"; do
      if [[ -z $want || $(pg_major_of_bin "$d") == "$want" ]]; then
        PG_BIN=$d PG_FLAVOR=system
        return 0
      fi
    done
    # The data dir may come from the embedded wheel.
    if [[ -n $want ]] && d=$(embedded_bin) && [[ $(pg_major_of_bin "$d") == "$want" ]]; then
      PG_BIN=$d PG_FLAVOR=embedded
      return 0
    fi
    if ((${#cands[@]})); then
      # Version mismatch; check_data_version explains.
      PG_BIN=${cands[0]} PG_FLAVOR=system
      return 0
    fi
  fi
  if d=$(embedded_bin); then
    PG_BIN=$d PG_FLAVOR=embedded
    return 0
  fi
  [[ $install == install ]] || return 1
  install_pgserver
  PG_BIN=$(embedded_bin) || die "pgserver installed but its pginstall/bin was not found"
  PG_FLAVOR=embedded
}

install_pgserver() {
  local py=${PYTHON:-python3} log="$LOG_DIR/pgserver-install.log"
  info "no system PostgreSQL: installing pgserver==$PGSERVER_VERSION from PyPI into $(rel "$PGSERVER_VENV")"
  ensure_dirs
  {
    if [[ ! -x $PGSERVER_VENV/bin/python ]]; then
      if ! "$py" -m venv "$PGSERVER_VENV"; then
        rm -rf "$PGSERVER_VENV"
        command -v uv >/dev/null 2>&1 || exit 1
        uv venv --seed -p "$py" "$PGSERVER_VENV"
      fi
    fi
    "$PGSERVER_VENV/bin/python" -m pip install --disable-pip-version-check -q "pgserver==$PGSERVER_VERSION"
  } >"$log" 2>&1 9>&- || {
    show_log_tail "$log"
    die "could not install pgserver (full output: $(rel "$log"))"
  }
  # The server runs as an unprivileged user when we are root: it must read these files.
  chmod -R go+rX "$PGSERVER_VENV"
}

check_data_version() {
  [[ -f $PGDATA_DIR/PG_VERSION ]] || return 0
  local have want
  have=$(pg_major_of_bin "$PG_BIN")
  want=$(<"$PGDATA_DIR/PG_VERSION")
  [[ $have == "$want" ]] ||
    die "$(rel "$PGDATA_DIR") was created by PostgreSQL $want but the binaries found ($PG_BIN) are $have. Install PostgreSQL $want, set SUPPORTOPS_PG_BIN, or delete $(rel "$PG_BASE") to start over."
}

client_bin() {
  # client_bin NAME — from the server's bin dir, else PATH.
  if [[ -n $PG_BIN && -x $PG_BIN/$1 ]]; then
    printf '%s' "$PG_BIN/$1"
  elif command -v "$1" >/dev/null 2>&1; then
    command -v "$1"
  else
    return 1
  fi
}

# ---------------------------------------------------------------- OS user

PG_OS_USER=""

# As root, everything server-side runs as this unprivileged user.
ensure_os_user() {
  if ((EUID != 0)); then
    PG_OS_USER=$(id -un)
    return 0
  fi
  if id -u postgres >/dev/null 2>&1; then
    PG_OS_USER=postgres
  else
    if ! id -u supportops >/dev/null 2>&1; then
      info "creating system user 'supportops' to run PostgreSQL (it refuses to run as root)"
      useradd --system --user-group --no-create-home --home-dir / --shell /usr/sbin/nologin supportops ||
        die "useradd supportops failed"
    fi
    PG_OS_USER=supportops
  fi
}

as_pg() {
  if ((EUID != 0)); then
    "$@"
  elif command -v runuser >/dev/null 2>&1; then
    (cd / && runuser -u "$PG_OS_USER" -- "$@")
  else
    (cd / && setpriv --reuid="$PG_OS_USER" --regid="$(id -g "$PG_OS_USER")" --init-groups -- "$@")
  fi
}

# The unprivileged user must be able to traverse every directory down to $1 (the clone
# may live under a root-only directory). Grants search (x) permission only, with an ACL
# for that user when setfacl exists, else o+x.
ensure_traversable() {
  ((EUID == 0)) || return 0
  local target=$1 dir path="" part
  local -a parts
  IFS=/ read -r -a parts <<<"${target#/}"
  for part in "${parts[@]}"; do
    path+="/$part"
    dir=$path
    [[ -d $dir ]] || break
    if ! as_pg test -x "$dir" 2>/dev/null; then
      if command -v setfacl >/dev/null 2>&1 && setfacl -m "u:$PG_OS_USER:x" "$dir" 2>/dev/null; then
        info "granted $PG_OS_USER search permission on $dir (ACL) so PostgreSQL can reach its data dir"
      else
        chmod o+x "$dir"
        info "added o+x to $dir so PostgreSQL (user $PG_OS_USER) can reach its data dir"
      fi
    fi
  done
}

# ---------------------------------------------------------------- cluster

socket_dir_setting() {
  # Unix socket paths are limited to 107 bytes; with a deep clone path, TCP only.
  local sock="$SOCK_DIR/.s.PGSQL.$PG_PORT"
  if ((${#sock} > 100)); then
    printf ''
  else
    printf '%s' "$SOCK_DIR"
  fi
}

sql_quote() { printf "'%s'" "${1//\'/\'\'}"; }

write_conf() {
  local sockdir conf="$PGDATA_DIR/supportops.conf"
  sockdir=$(socket_dir_setting)
  [[ -n $sockdir ]] || warn "clone path too long for a unix socket; TCP only"
  cat >"$conf.tmp" <<EOF
# Written by deploy/local/postgres.sh on every start; edits here are overwritten.
#
# DEV/TEST CLUSTER ONLY. fsync and full_page_writes are off for speed: a crash of the
# machine or the OS (not of PostgreSQL) can lose or corrupt data. Never use these
# settings for data you care about.
#
# synchronous_commit stays ON: a commit is acknowledged only once its WAL is written.
# The outbox and inbox guarantees (an acknowledged write and its event survive; a
# consumed event's effect is in the database before its Kafka offset is committed)
# assume an acknowledged commit survives a PostgreSQL crash. With it off, a
# `pg_ctl restart -m immediate` lost acknowledged writes, left events on Kafka without
# their outbox row and dropped consumed events from inboxes (issue 14). With fsync off
# the WAL still reaches the OS page cache, which a PostgreSQL crash does not lose.
listen_addresses = '$PG_HOST'
port = $PG_PORT
unix_socket_directories = $(sql_quote "$sockdir")
max_connections = 300
shared_buffers = 128MB
fsync = off
synchronous_commit = on
full_page_writes = off
timezone = 'UTC'
log_timezone = 'UTC'
log_line_prefix = '%m [%p] %q%u@%d '
EOF
  mv -f "$conf.tmp" "$conf"
  ((EUID != 0)) || chown "$PG_OS_USER:" "$conf"
}

init_cluster() {
  [[ -f $PGDATA_DIR/PG_VERSION ]] && return 0
  local locale=C pwfile
  if locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then
    locale=C.UTF-8
  fi
  info "initdb $(rel "$PGDATA_DIR") (PostgreSQL $(pg_major_of_bin "$PG_BIN"), $PG_FLAVOR, locale $locale, superuser $PG_SUPERUSER)"
  mkdir -p "$PGDATA_DIR"
  chmod 700 "$PGDATA_DIR"
  pwfile="$PG_BASE/.pwfile"
  (umask 077 && printf '%s\n' "$PG_PASSWORD" >"$pwfile")
  ((EUID != 0)) || chown "$PG_OS_USER:" "$PGDATA_DIR" "$pwfile"
  if ! as_pg "$PG_BIN/initdb" -D "$PGDATA_DIR" -U "$PG_SUPERUSER" --pwfile="$pwfile" \
    --auth-host=scram-sha-256 --auth-local=trust --encoding=UTF8 --locale="$locale" \
    --no-sync >>"$LOGFILE" 2>&1 9>&-; then
    rm -f "$pwfile"
    show_log_tail "$LOGFILE"
    rm -rf "$PGDATA_DIR"
    die "initdb failed"
  fi
  rm -f "$pwfile"
  printf "\ninclude 'supportops.conf'\n" >>"$PGDATA_DIR/postgresql.conf"
}

pg_isready_ok() {
  local isready
  if isready=$(client_bin pg_isready); then
    "$isready" -q -h "$PG_HOST" -p "$PG_PORT" -U "$PG_SUPERUSER" -d postgres -t 3
  else
    tcp_open "$PG_HOST" "$PG_PORT"
  fi
}

psql_admin() {
  local psql
  psql=$(client_bin psql) || die "psql not found"
  PGPASSWORD=$PG_PASSWORD PGCONNECT_TIMEOUT=5 "$psql" -X -q -v ON_ERROR_STOP=1 \
    -h "$PG_HOST" -p "$PG_PORT" -U "$PG_SUPERUSER" "$@"
}

ensure_databases() {
  local db created=()
  for db in "${DATABASES[@]}"; do
    if [[ $(psql_admin -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = $(sql_quote "$db")") != 1 ]]; then
      psql_admin -d postgres -c "CREATE DATABASE \"$db\" OWNER \"$PG_SUPERUSER\"" >/dev/null
      created+=("$db")
    fi
  done
  ((${#created[@]} == 0)) || info "created databases: ${created[*]}"
  if [[ $(psql_admin -d escalation -tAc "SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'") != 1 ]]; then
    if [[ $PG_FLAVOR == embedded ]]; then
      # The pgserver wheel bundles only plpgsql and pgvector, no contrib modules.
      warn "pg_trgm is NOT available: the pgserver wheel ships no contrib modules. Anything needing trigram search (escalation) will fail; install a system PostgreSQL with contrib (Debian: postgresql postgresql-contrib) for the full setup."
      return 0
    fi
    die "extension pg_trgm is not available to this PostgreSQL (Debian: apt-get install postgresql-contrib)"
  fi
  psql_admin -d escalation -c 'CREATE EXTENSION IF NOT EXISTS pg_trgm' 2>&1 | grep -v 'already exists, skipping' || true
}

missing_databases() {
  local have db out=""
  have=$(psql_admin -d postgres -tAc "SELECT datname FROM pg_database" 2>/dev/null) || return 1
  for db in "${DATABASES[@]}"; do
    grep -qx "$db" <<<"$have" || out+="$db "
  done
  printf '%s' "${out% }"
}

# Port of the running postmaster (line 4 of postmaster.pid).
running_port() { sed -n '4p' "$PGDATA_DIR/postmaster.pid" 2>/dev/null; }

check_running_port() {
  local rp
  rp=$(running_port)
  if [[ -n $rp && $rp != "$PG_PORT" ]]; then
    echo "postgres: running (pid $1) on port $rp, not $PG_PORT as SUPPORTOPS_PG_PORT asks: stop it first to change ports"
    return 1
  fi
}

find_ours() {
  ours_pid postgres "${MARKERS[@]}" && return 0
  # Pid file lost: the postmaster's own lock file, or whoever listens on our port.
  local pid=""
  if [[ -r $PGDATA_DIR/postmaster.pid ]]; then
    read -r pid <"$PGDATA_DIR/postmaster.pid" || true
    if pid_alive "$pid" && cmdline_has "$pid" "${MARKERS[@]}"; then
      record_pid postgres "$pid"
      printf '%s\n' "$pid"
      return 0
    fi
  fi
  adopt_listener postgres "$PG_PORT" "${MARKERS[@]}"
}

# ---------------------------------------------------------------- commands

cmd_start() {
  if external; then
    info "external PostgreSQL used (*_DATABASE_URL set for all four services); not starting one"
    return 0
  fi
  acquire_lock postgres
  local pid t0=$SECONDS
  if pid=$(find_ours); then
    local msg
    msg=$(check_running_port "$pid") || die "${msg#*: }"
    choose_bin || true
    if ! WAIT_WHILE_PID=$pid wait_until "$START_TIMEOUT" 0.5 pg_isready_ok; then
      show_log_tail "$LOGFILE"
      die "postgres (pid $pid) running but not accepting connections on $PG_HOST:$PG_PORT"
    fi
    ensure_databases
    info "already running (pid $pid) on $PG_HOST:$PG_PORT"
    return 0
  fi
  if tcp_open "$PG_HOST" "$PG_PORT"; then
    die "port $PG_PORT on $PG_HOST is already in use by $(describe_port_owner "$PG_PORT"), which is not this checkout's PostgreSQL. Stop it, choose another port with SUPPORTOPS_PG_PORT, or set the four *_DATABASE_URL variables to use it."
  fi
  ensure_dirs
  choose_bin install
  check_data_version
  ensure_os_user
  mkdir -p "$PG_BASE" "$SOCK_DIR"
  touch "$LOGFILE"
  if ((EUID == 0)); then
    chown "$PG_OS_USER:" "$SOCK_DIR" "$LOGFILE"
    [[ -d $PGDATA_DIR ]] && chown -R "$PG_OS_USER:" "$PGDATA_DIR"
    ensure_traversable "$PG_BASE"
    [[ $PG_FLAVOR != embedded ]] || ensure_traversable "$PG_BIN"
  fi
  chmod 700 "$SOCK_DIR"
  init_cluster
  write_conf
  info "starting PostgreSQL $(pg_major_of_bin "$PG_BIN") ($PG_FLAVOR) on $PG_HOST:$PG_PORT (log $(rel "$LOGFILE"))"
  if ! as_pg "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -l "$LOGFILE" -w -t "$START_TIMEOUT" -s start 9>&-; then
    show_log_tail "$LOGFILE"
    die "pg_ctl start failed"
  fi
  pid=""
  read -r pid <"$PGDATA_DIR/postmaster.pid" || true
  if ! { pid_alive "$pid" && cmdline_has "$pid" "${MARKERS[@]}"; }; then
    die "postgres started but postmaster.pid names pid '$pid', which is not our postmaster"
  fi
  record_pid postgres "$pid"
  if ! WAIT_WHILE_PID=$pid wait_until "$START_TIMEOUT" 0.5 pg_isready_ok; then
    show_log_tail "$LOGFILE"
    die "postgres (pid $pid) not accepting connections on $PG_HOST:$PG_PORT"
  fi
  ensure_databases
  info "ready (pid $pid) on $PG_HOST:$PG_PORT after $((SECONDS - t0))s"
}

cmd_stop() {
  if external; then
    info "external PostgreSQL used (*_DATABASE_URL set for all four services); nothing to stop"
    return 0
  fi
  acquire_lock postgres
  local pid
  if ! pid=$(find_ours); then
    info "not running"
    return 0
  fi
  info "stopping (pid $pid, fast shutdown)"
  # SIGINT = "fast" shutdown (SIGTERM would be "smart": wait for every client to leave).
  stop_pid "$pid" INT "$STOP_TIMEOUT"
  rm -f "$(pid_file postgres)"
  info "stopped"
}

cmd_status() {
  if external; then
    local v url bad="" isready
    isready=$(client_bin pg_isready) || isready=""
    for v in TICKET_DATABASE_URL BILLING_DATABASE_URL ONBOARDING_DATABASE_URL ESCALATION_DATABASE_URL; do
      url=${!v}
      url=${url/#postgresql+*:\/\//postgresql://}
      if [[ -n $isready ]]; then
        "$isready" -q -t 3 -d "$url" || bad+="$v "
      fi
    done
    if [[ -z $isready ]]; then
      echo "postgres: external (*_DATABASE_URL set), not checked (no pg_isready)"
      return 0
    fi
    if [[ -z $bad ]]; then
      echo "postgres: external (*_DATABASE_URL set), all four accept connections"
      return 0
    fi
    echo "postgres: external, NOT reachable: ${bad% }"
    return "$EXIT_NOT_RUNNING"
  fi
  local pid missing
  if ! pid=$(find_ours); then
    if tcp_open "$PG_HOST" "$PG_PORT"; then
      echo "postgres: stopped (but $PG_HOST:$PG_PORT is in use by $(describe_port_owner "$PG_PORT"))"
    else
      echo "postgres: stopped"
    fi
    return "$EXIT_NOT_RUNNING"
  fi
  check_running_port "$pid" || return "$EXIT_NOT_RUNNING"
  choose_bin || true
  if ! pg_isready_ok; then
    echo "postgres: unhealthy (pid $pid alive, not accepting connections on $PG_HOST:$PG_PORT), log $(rel "$LOGFILE")"
    return "$EXIT_NOT_RUNNING"
  fi
  if ! missing=$(missing_databases); then
    echo "postgres: unhealthy (pid $pid on $PG_HOST:$PG_PORT; cannot log in as $PG_SUPERUSER)"
    return "$EXIT_NOT_RUNNING"
  fi
  if [[ -n $missing ]]; then
    echo "postgres: unhealthy (pid $pid on $PG_HOST:$PG_PORT; databases: $missing missing — run start)"
    return "$EXIT_NOT_RUNNING"
  fi
  echo "postgres: running (pid $pid, PostgreSQL $(pg_major_of_bin "$PG_BIN") $PG_FLAVOR) on $PG_HOST:$PG_PORT, user $PG_SUPERUSER/$PG_PASSWORD, dbs ${DATABASES[*]}, log $(rel "$LOGFILE")"
}

dispatch "$@"
