#!/usr/bin/env bash
# with-infra.sh CMD... — run CMD with PostgreSQL, Kafka, stripe-mock and Mailpit up; afterwards
# stop exactly the parts this script started (what was already running stays running).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
LOCAL="$ROOT/deploy/local"
started=()

cleanup() {
  local rc=$? part
  for part in "${started[@]}"; do
    "$LOCAL/$part.sh" stop >/dev/null 2>&1 || echo "with-infra: could not stop $part" >&2
  done
  exit $rc
}
trap cleanup EXIT INT TERM

pids=() parts=()
for part in postgres stripe-mock kafka mailpit; do
  if "$LOCAL/$part.sh" status >/dev/null 2>&1; then
    continue
  fi
  started+=("$part")
  "$LOCAL/$part.sh" start &
  pids+=($!) parts+=("$part")
done
failed=0
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then
    echo "with-infra: ${parts[$i]} failed to start (log: .local/logs/${parts[$i]}.log)" >&2
    failed=1
  fi
done
((failed == 0)) || exit 1

"$@"
