# supportops — `make help` lists the targets.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

UV ?= $(shell command -v uv 2>/dev/null || echo "$(HOME)/.local/bin/uv")
SERVICES := ticket-service billing-service onboarding-service escalation-service
PYTEST_ARGS ?=
BENCH_ARGS ?=
ROLE ?= agent
TENANT ?=

.PHONY: help
help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}'

.PHONY: install
install: ## Install the uv workspace (all services, libs and dev tools) into .venv (the duplicate-detection model ships inside the escalation-service package)
	@command -v uv >/dev/null 2>&1 || test -x "$(UV)" || python3 -m pip install --quiet --user uv
	$(UV) sync --frozen --all-packages

.PHONY: infra-up
infra-up: ## Start PostgreSQL, Kafka, stripe-mock and Mailpit (skips what KAFKA_BOOTSTRAP_SERVERS etc. point elsewhere)
	deploy/local/infra.sh start

.PHONY: infra-down
infra-down: ## Stop PostgreSQL, Kafka, stripe-mock and Mailpit
	deploy/local/infra.sh stop

.PHONY: topics
topics: ## Create every service's Kafka topics and dead-letter topics
	@for s in $(SERVICES); do .venv/bin/$$s create-topics; done

.PHONY: migrate
migrate: ## Apply every service's database migrations
	@for s in $(SERVICES); do .venv/bin/$$s migrate; done

.PHONY: seed
seed: ## Seed default data: billing's plans (and their Stripe products and prices), idempotent
	.venv/bin/billing-service seed-plans

.PHONY: traces-up
traces-up: ## Start Jaeger (traces; built once with Go) and Zipkin (their UI; fed from Jaeger over Kafka); `make up` goes on without them if that fails
	deploy/local/jaeger.sh start || echo "WARNING: Jaeger did not start; the services run without exporting traces"
	deploy/local/zipkin.sh start || echo "WARNING: Zipkin did not start; no trace UI (Jaeger's API still answers)"

.PHONY: traces-install
traces-install: ## Build Jaeger (Go, once) and download Zipkin (Maven Central, once): the trace tests use both
	deploy/local/jaeger.sh install
	deploy/local/zipkin.sh install

.PHONY: up
up: install infra-up traces-up topics migrate seed ## Run the whole system: infrastructure, Jaeger and Zipkin, migrations, the four services and the gateway (http://127.0.0.1:8000)
	deploy/local/services.sh start
	deploy/local/gateway.sh start
	@scripts/print-urls.sh

.PHONY: down
down: ## Stop everything `make up` started
	deploy/local/gateway.sh stop
	deploy/local/services.sh stop
	deploy/local/zipkin.sh stop
	deploy/local/jaeger.sh stop
	deploy/local/infra.sh stop

.PHONY: status
status: ## Show what is running
	-deploy/local/infra.sh status
	-deploy/local/jaeger.sh status
	-deploy/local/zipkin.sh status
	-deploy/local/services.sh status
	-deploy/local/gateway.sh status

.PHONY: logs
logs: ## Tail the logs of the services and the infrastructure
	deploy/local/services.sh logs
	@for f in $${SUPPORTOPS_STATE_DIR:-.local}/logs/{kafka,postgres,stripe-mock,mailpit-$${SUPPORTOPS_MAILPIT_SMTP_PORT:-1025},jaeger,zipkin,gateway}.log; do \
		echo "==> $$f <=="; tail -n 15 $$f 2>/dev/null || true; done

.PHONY: token
token: ## Print a development JWT: make token ROLE=agent [TENANT=<tenant id>]
	@.venv/bin/ticket-service token --role $(ROLE) $(if $(TENANT),--tenant $(TENANT),)

DEMO_ARGS ?=
BENCH_ARGS ?=

.PHONY: demo
demo: ## Seed a realistic dataset through the APIs and print what to look at (runs `make up` when needed)
	@deploy/local/infra.sh status >/dev/null 2>&1 && deploy/local/services.sh status >/dev/null 2>&1 \
		|| $(MAKE) up
	$(UV) run --frozen python -m scripts.demo $(DEMO_ARGS)

.PHONY: api-tour
api-tour: ## Regenerate docs/api-tour.md from real requests to the running system
	@deploy/local/infra.sh status >/dev/null 2>&1 && deploy/local/services.sh status >/dev/null 2>&1 \
		|| $(MAKE) up
	$(UV) run --frozen python -m scripts.api_tour

.PHONY: test
test: install traces-install ## Run every test tier (starts the infrastructure it needs, stops what it started)
	scripts/with-infra.sh $(UV) run --frozen pytest $(PYTEST_ARGS)

.PHONY: lint
lint: ## ruff, mypy (strict) and the import-linter contracts
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy
	$(UV) run --frozen lint-imports --no-cache --config .importlinter
	@for cfg in services/*/.importlinter; do \
		[ -e "$$cfg" ] || continue; \
		echo "lint-imports $$cfg"; \
		$(UV) run --frozen lint-imports --no-cache --config "$$cfg" || exit 1; \
	done

.PHONY: fmt
fmt: ## Format and autofix
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .

.PHONY: schemas
schemas: ## Regenerate the event JSON Schemas and docs/asyncapi.yaml
	$(UV) run --frozen python -m supportops_events.export

.PHONY: bench-events
bench-events: install ## Benchmark outbox -> relay -> Kafka -> consumer against raw aiokafka
	scripts/with-infra.sh $(UV) run --frozen python -m benchmarks.events

.PHONY: bench-scale
bench-scale: install ## Console lists, searches and ticket create on 1M tickets (100k bugs, 500k invoices) vs 10k rows
	scripts/with-infra.sh $(UV) run --frozen python -m benchmarks.scale $(BENCH_ARGS)

.PHONY: bench-request-path
bench-request-path: install ## Request cost vs bare FastAPI, ORM + outbox and raw asyncpg; SQL per request; idle RSS
	scripts/with-infra.sh $(UV) run --frozen python -m benchmarks.request_path

.PHONY: bench-memory
bench-memory: install ## RSS of the four services over a 10-minute load (relay and consumers on) vs a bare FastAPI idle
	scripts/with-infra.sh $(UV) run --frozen python -m benchmarks.memory $(BENCH_ARGS)

.PHONY: bench-quality
bench-quality: install ## Triage and duplicate-detection quality on the held-out corpus (tables + .local/bench/quality.png)
	scripts/with-infra.sh $(UV) run --frozen python -m benchmarks.quality $(BENCH_ARGS)

.PHONY: bench-dup-retrieval
bench-dup-retrieval: install ## Duplicate detection end to end on the held-out corpus, as filing runs it, with 0-100k open bugs (decision 0050)
	scripts/with-infra.sh $(UV) run --frozen python -m benchmarks.dup_retrieval --split heldout $(BENCH_ARGS)

.PHONY: bench
bench: bench-events bench-request-path bench-scale bench-memory bench-quality bench-dup-retrieval ## Run every benchmark (about 45 minutes; each prints its table with the targets)

VERSION ?=
DIGESTS ?=

.PHONY: release-manifests
release-manifests: ## Render and keep prod manifests of a release: make release-manifests VERSION=1.4.0 DIGESTS="ticket-service=sha256:… …"
	@test -n "$(VERSION)" || { echo "VERSION=… is required" >&2; exit 2; }
	deploy/k8s/tools.sh
	IMAGE_DIGESTS="$(DIGESTS)" $(UV) run --frozen python deploy/k8s/release.py $(VERSION)

.PHONY: clean
clean: down ## Stop everything and delete .local (downloads, data, logs)
	rm -rf .local
