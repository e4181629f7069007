#!/usr/bin/env bash
# Printed at the end of `make up`: where everything is and how to call it — the addresses
# the services actually use, from the same settings source as the services
# (servicekit.localstack: SUPPORTOPS_PG_PORT, SUPPORTOPS_KAFKA_PORT,
# SUPPORTOPS_STRIPE_MOCK_PORT; an explicit *_DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS or
# STRIPE_API_BASE wins), and whether each answers now. The gateway (one origin,
# deploy/local/gateway.sh) comes first: it is what a browser application points at.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
PY="$ROOT/.venv/bin/python"
LOCAL="$ROOT/deploy/local"

SMTP_URL_SET=${SMTP_URL:-}
if [[ -x $PY ]]; then
  eval "$("$PY" -m servicekit.localstack)"
else
  # Not installed yet: the same rules, in shell.
  pg="postgresql://supportops:supportops@127.0.0.1:${SUPPORTOPS_PG_PORT:-5432}"
  TICKET_DATABASE_URL=${TICKET_DATABASE_URL:-$pg/tickets}
  BILLING_DATABASE_URL=${BILLING_DATABASE_URL:-$pg/billing}
  ONBOARDING_DATABASE_URL=${ONBOARDING_DATABASE_URL:-$pg/onboarding}
  ESCALATION_DATABASE_URL=${ESCALATION_DATABASE_URL:-$pg/escalation}
  KAFKA_BOOTSTRAP_SERVERS=${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:${SUPPORTOPS_KAFKA_PORT:-9092}}
  STRIPE_API_BASE=${STRIPE_API_BASE:-http://127.0.0.1:${SUPPORTOPS_STRIPE_MOCK_PORT:-12111}}
  SMTP_URL=${SMTP_URL:-smtp://127.0.0.1:${SUPPORTOPS_MAILPIT_SMTP_PORT:-1025}}
  MAILPIT_UI=http://127.0.0.1:${SUPPORTOPS_MAILPIT_UI_PORT:-8025}
fi

# "host:port" of a URL or a bootstrap list's first entry
hostport() {
  local rest=${1#*://}
  rest=${rest#*@}
  rest=${rest%%/*}
  rest=${rest%%,*}
  printf '%s' "$rest"
}

state() {
  local hp host port
  hp=$(hostport "$1")
  host=${hp%:*} port=${hp##*:}
  if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then echo up; else echo "NOT answering"; fi
}

hide_password() { sed -E 's#(://[^:/@]+):[^@]*@#\1:***@#' <<<"$1"; }

row() {
  local name=$1 port=$2 url="http://127.0.0.1:$2"
  printf '  %-20s %-34s %-36s %s\n' "$name" "$url/docs" "$url/readyz" "$(state "$url")"
}

GATEWAY_URL=${GATEWAY_URL:-http://127.0.0.1:${SUPPORTOPS_GATEWAY_PORT:-8000}}

cat <<MSG

supportops is up.

  Gateway (one origin) $GATEWAY_URL ($(state "$GATEWAY_URL"))
                       /ticket/  /billing/  /onboarding/  /escalation/  -> the services, prefix stripped
                       e.g. $GATEWAY_URL/ticket/v1/tickets

  service              API docs                           health
MSG
row ticket-service "${TICKET_PORT:-8001}"
row billing-service "${BILLING_PORT:-8002}"
row onboarding-service "${ONBOARDING_PORT:-8003}"
row escalation-service "${ESCALATION_PORT:-8004}"
cat <<MSG

  Kafka        $KAFKA_BOOTSTRAP_SERVERS ($(state "$KAFKA_BOOTSTRAP_SERVERS"))
  PostgreSQL   $(hostport "$TICKET_DATABASE_URL") ($(state "$TICKET_DATABASE_URL")), user supportops
               ticket      $(hide_password "$TICKET_DATABASE_URL")
               billing     $(hide_password "$BILLING_DATABASE_URL")
               onboarding  $(hide_password "$ONBOARDING_DATABASE_URL")
               escalation  $(hide_password "$ESCALATION_DATABASE_URL")
  stripe-mock  $STRIPE_API_BASE ($(state "$STRIPE_API_BASE"))
  Mail (SMTP)  $SMTP_URL ($(state "$SMTP_URL"))
  Mailpit      $(if [[ -n ${SMTP_URL_SET:-} ]]; then echo "not used: mail goes to $SMTP_URL"; else echo "$MAILPIT_UI (every mail sent: replies, surveys, invitations; API /api/v1/messages)"; fi)
  Jaeger       $(if [[ -n ${OTEL_EXPORTER_OTLP_ENDPOINT:-} ]]; then echo "not used: traces go to $OTEL_EXPORTER_OTLP_ENDPOINT"; elif "$LOCAL/jaeger.sh" status >/dev/null 2>&1; then echo "http://127.0.0.1:${SUPPORTOPS_JAEGER_UI_PORT:-16686} (trace API /api/traces/<trace id>; OTLP 127.0.0.1:${SUPPORTOPS_JAEGER_OTLP_GRPC_PORT:-4317} gRPC, 127.0.0.1:${SUPPORTOPS_JAEGER_OTLP_HTTP_PORT:-4318} HTTP)"; else echo "not running (make traces-up)"; fi)
  Zipkin       $(if [[ ${SUPPORTOPS_ZIPKIN:-on} == off ]]; then echo "not used (SUPPORTOPS_ZIPKIN=off)"; elif "$LOCAL/zipkin.sh" status >/dev/null 2>&1; then echo "$("$LOCAL/zipkin.sh" url) (the trace UI: .../zipkin/traces/<trace id>; spans copied from Jaeger over Kafka)"; else echo "not running (make traces-up)"; fi)

A token:   TOKEN=\$(make -s token ROLE=agent)            (roles: agent billing onboarding qa admin service)
           TOKEN=\$(make -s token ROLE=agent TENANT=<id>)  (confined to one tenant)
Try:       curl -H "Authorization: Bearer \$TOKEN" $GATEWAY_URL/ticket/v1/tickets
Stop:      make down        Status: make status        Logs: make logs
MSG
