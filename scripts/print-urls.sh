#!/usr/bin/env bash
# Printed at the end of `make up`: where everything is and how to call it.
set -euo pipefail
cat <<MSG

supportops is up.

  service              API docs                          health
  ticket-service       http://127.0.0.1:${TICKET_PORT:-8001}/docs      http://127.0.0.1:${TICKET_PORT:-8001}/readyz
  billing-service      http://127.0.0.1:${BILLING_PORT:-8002}/docs      http://127.0.0.1:${BILLING_PORT:-8002}/readyz
  onboarding-service   http://127.0.0.1:${ONBOARDING_PORT:-8003}/docs      http://127.0.0.1:${ONBOARDING_PORT:-8003}/readyz
  escalation-service   http://127.0.0.1:${ESCALATION_PORT:-8004}/docs      http://127.0.0.1:${ESCALATION_PORT:-8004}/readyz

  Kafka        ${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:9092}
  PostgreSQL   127.0.0.1:5432 (user supportops, password supportops; databases tickets, billing, onboarding, escalation)
  stripe-mock  ${STRIPE_API_BASE:-http://127.0.0.1:12111}
  Jaeger       $(if [[ -n ${OTEL_EXPORTER_OTLP_ENDPOINT:-} ]]; then echo "not used: traces go to $OTEL_EXPORTER_OTLP_ENDPOINT"; elif "$(dirname "$0")/../deploy/local/jaeger.sh" status >/dev/null 2>&1; then echo "http://127.0.0.1:${SUPPORTOPS_JAEGER_UI_PORT:-16686} (traces; API /api/traces/<trace id>; OTLP 127.0.0.1:4317 gRPC, 127.0.0.1:4318 HTTP)"; else echo "not running (make traces-up)"; fi)

A token:   TOKEN=\$(make -s token ROLE=agent)            (roles: agent billing onboarding qa admin service)
           TOKEN=\$(make -s token ROLE=agent TENANT=<id>)  (confined to one tenant)
Try:       curl -H "Authorization: Bearer \$TOKEN" http://127.0.0.1:8001/readyz
Stop:      make down        Status: make status        Logs: make logs
MSG
