#!/usr/bin/env bash
# All local infrastructure for supportops: PostgreSQL, stripe-mock, Kafka, Mailpit.
#
#   deploy/local/infra.sh start|stop|status
#
# start   starts the four concurrently (each is idempotent), then prints their status;
#         exits 1 when any failed (the others are left running)
# stop    stops the four concurrently
# status  one line per service; exit 0 when all are running and healthy, 3 otherwise
#
# Each part honours its own environment (see deploy/local/{postgres,stripe-mock,kafka,mailpit}.sh):
# KAFKA_BOOTSTRAP_SERVERS, STRIPE_API_BASE, SMTP_URL, the four *_DATABASE_URL, SUPPORTOPS_PG_PORT...
# A second stack beside the first: SUPPORTOPS_STATE_DIR (its own data, logs, pids and
# locks) plus the SUPPORTOPS_*_PORT overrides (README, "Run a second stack").
set -euo pipefail
# shellcheck disable=SC2034  # read by lib.sh
SVC=infra
# shellcheck source=deploy/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PARTS=(postgres stripe-mock kafka mailpit)

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

# run_parallel ACTION — runs `<part>.sh ACTION` for every part at once; sets FAILED.
run_parallel() {
  local action=$1 part i
  local -a pids=()
  FAILED=()
  for part in "${PARTS[@]}"; do
    "$LOCAL_SCRIPTS_DIR/$part.sh" "$action" &
    pids+=($!)
  done
  for i in "${!PARTS[@]}"; do
    wait "${pids[$i]}" || FAILED+=("${PARTS[$i]}")
  done
}

cmd_start() {
  local t0=$SECONDS
  run_parallel start
  echo
  cmd_status || true
  if ((${#FAILED[@]})); then
    local f logs=""
    for f in "${FAILED[@]}"; do logs+=" $(rel "$LOG_DIR/$f.log")"; done
    die "failed to start: ${FAILED[*]} (see the messages above and$logs)"
  fi
  info "all up in $((SECONDS - t0))s"
}

cmd_stop() {
  run_parallel stop
  ((${#FAILED[@]} == 0)) || die "failed to stop: ${FAILED[*]}"
  info "all stopped"
}

cmd_status() {
  local part rc=0
  for part in "${PARTS[@]}"; do
    "$LOCAL_SCRIPTS_DIR/$part.sh" status || rc=$EXIT_NOT_RUNNING
  done
  return "$rc"
}

dispatch "$@"
