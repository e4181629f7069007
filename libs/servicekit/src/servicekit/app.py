"""The app factory: one call gives a service its lifespan, health, auth, errors,
telemetry, outbox relay and consumers, so a service's ``main.py`` stays short."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from aiokafka import AIOKafkaProducer
from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from servicekit.api_style import check_operation_ids, install_query_check, operation_id
from servicekit.auth import TokenVerifier
from servicekit.authz import Ownership, install_ownership
from servicekit.clock import Clock, StateClock
from servicekit.consumer import EventConsumer, EventRouter
from servicekit.db import Database
from servicekit.errors import install_problem_handlers
from servicekit.guard import install_guards
from servicekit.kafka import client_options, ensure_topics, make_producer
from servicekit.live import LiveEvents, events_topics, live_router
from servicekit.liveness import ProgressWatch, consumer_signal
from servicekit.metrics import EVENT_LOOP_LAG
from servicekit.middleware import ServiceHttpMiddleware, telemetry_config
from servicekit.openapi import install_problem_documentation
from servicekit.outbox import SOURCE_INFO_KEY
from servicekit.relay import OutboxRelay
from servicekit.settings import ServiceSettings
from servicekit.telemetry import setup_logging, setup_tracing, tracing_exported
from supportops_events import registry

logger = logging.getLogger("servicekit.app")

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


@dataclass
class ServiceDefinition:
    """What a service is: its name, settings, HTTP routers, and event handlers."""

    name: str
    settings: ServiceSettings
    routers: list[APIRouter] = field(default_factory=list)
    events: EventRouter | None = None
    produces: list[str] = field(default_factory=list)
    title: str | None = None
    description: str = ""
    version: str = "0.1.0"
    extra_lifespan: Lifespan | None = None
    openapi_tags: list[dict[str, Any]] | None = None
    clock: Clock | None = None
    """The app's clock (``app.state.clock``; the system clock when ``None``). Endpoints get
    it through ``servicekit.clock.ClockDep``, consumer handlers as ``received.clock``."""
    ownership: Ownership | None = None
    """Resolvers of the ids its routes name (``servicekit.authz``); required once a
    route takes an id."""


class KafkaRuntime:
    """Producer, relay and consumers; started in the background so the API comes up
    (and reports not-ready) even while the broker is away."""

    def __init__(self, defn: ServiceDefinition, db: Database) -> None:
        self.defn = defn
        self.db = db
        s = defn.settings
        self.options = client_options(
            s.kafka_bootstrap_servers,
            security_protocol=s.kafka_security_protocol,
            ssl_cafile=s.kafka_ssl_cafile,
            sasl_mechanism=s.kafka_sasl_mechanism,
            sasl_username=s.kafka_sasl_username,
            sasl_password=s.kafka_sasl_password,
        )
        self.producer: AIOKafkaProducer | None = None
        self.relay: OutboxRelay | None = None
        self.relay_db: Database | None = None
        self.consumer: EventConsumer | None = None
        self.ready = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._boot(), name=f"{self.defn.name}-kafka"))

    async def _boot(self) -> None:
        s = self.defn.settings
        if not self.needed_for_readiness:
            # an API-only pod publishes nothing (the workers' relay does) and consumes
            # nothing: no producer, no topic creation, no retrying an absent broker
            self.ready.set()
            return
        backoff = 0.5
        while not self._stopping:
            producer = make_producer(self.options)
            try:
                await ensure_topics(
                    self.options,
                    self.topics_to_create(),
                    partitions=s.kafka_topic_partitions,
                    replication_factor=s.kafka_replication_factor,
                )
                await producer.start()
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await producer.stop()
                raise
            except Exception as exc:
                with contextlib.suppress(Exception):
                    await producer.stop()
                logger.warning("Kafka not reachable yet (%r); retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            self.producer = producer
            break
        if self.producer is None or self._stopping:
            return  # stopped while booting: stop() closes the producer
        if s.run_relay:
            # its own small pool: request traffic exhausting the API's pool (or holding
            # it during an overload) never stops event delivery
            self.relay_db = Database(
                s.database_url,
                pool_size=s.relay_db_pool_size,
                max_overflow=0,
                ping_idle_seconds=s.db_ping_idle_seconds,
            )
            self.relay = OutboxRelay(
                self.relay_db,
                self.producer,
                service_name=self.defn.name,
                batch_size=s.relay_batch_size,
                poll_interval=s.relay_poll_interval_seconds,
                topic_prefix=s.kafka_topic_prefix,
            )
            self._tasks.append(asyncio.create_task(self.relay.run(), name="outbox-relay"))
        if s.run_consumers and self.defn.events and self.defn.events.handlers:
            self.consumer = EventConsumer(
                db=self.db,
                router=self.defn.events,
                group_id=self.defn.name,
                kafka_options=self.options,
                dlq_producer=self.producer,
                max_retries=s.consumer_max_retries,
                retry_backoff=s.consumer_retry_backoff_seconds,
                max_backoff=s.consumer_max_backoff_seconds,
                topic_prefix=s.kafka_topic_prefix,
                lag_refresh_seconds=s.consumer_lag_refresh_seconds,
                stall_seconds=s.consumer_stall_seconds,
            )
            self._tasks.append(asyncio.create_task(self._run_consumer(), name="consumer"))
        self.ready.set()

    async def _run_consumer(self) -> None:
        assert self.consumer is not None
        backoff = 0.5
        while not self._stopping:
            try:
                await self.consumer.run()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("consumer crashed; restarting in %.1fs", backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    def topics_to_create(self) -> list[str]:
        topics = set(self.defn.produces)
        if self.defn.events and self.defn.events.handlers:
            topics.update(self.defn.events.topics())
            topics.add(registry.dlq_topic(self.defn.name))
        prefix = self.defn.settings.kafka_topic_prefix
        return sorted(prefix + t for t in topics)

    async def check(self, timeout: float = 2.0) -> None:
        if self.producer is None:
            raise RuntimeError("the Kafka producer has not started")
        await asyncio.wait_for(self.producer.client.fetch_all_metadata(), timeout)

    async def stop(self) -> None:
        self._stopping = True
        # Let the boot task finish first, so no relay or consumer starts after this.
        if self._tasks:
            boot = self._tasks[0]
            boot.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await boot
        if self.consumer is not None:
            self.consumer.stop()
        if self.relay is not None:
            self.relay.stop()
        for task in self._tasks:
            try:
                await asyncio.wait_for(asyncio.shield(task), 10.0)
            except TimeoutError:
                logger.warning("%s did not stop within 10 s; cancelling it", task.get_name())
            except (asyncio.CancelledError, Exception):
                pass
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.producer is not None:
            with contextlib.suppress(Exception):
                await self.producer.stop()
        if self.relay_db is not None:
            await self.relay_db.dispose()

    @property
    def needed_for_readiness(self) -> bool:
        """Only workers (relay, consumers) need Kafka to do their job; an API-only pod
        never produces (the outbox does) and does not even connect, so a broker outage
        must not take it out of its Service (docs/decisions/0003)."""
        s = self.defn.settings
        return s.run_relay or s.run_consumers


def freeze_startup_heap(*, enabled: bool) -> None:
    """Collect once, then move every object start-up left alive into the collector's
    permanent generation (``gc.freeze``). A full (generation-2) collection walks every
    tracked object; with a service's start-up heap in it, that is a 100-150 ms pause of the
    event loop every few hundred requests, which is what the scale benchmark's p99 tails
    were. Frozen objects are still freed by reference counting; only cycles among them
    are never collected, and start-up objects live as long as the process anyway."""
    if enabled:
        gc.collect()
        gc.freeze()


async def probe_loop_lag(service: str, interval: float) -> None:
    """Sleep ``interval`` seconds, again and again, and record how much later than asked
    the loop woke us (``event_loop_lag_seconds``): the time the loop spent on something
    that did not yield (a CPU-bound call, a synchronous library, a long collection), which
    every request waiting on that loop waited too. Without it a slow request whose own
    work was quick looks like the network's fault.

    Each lag is labelled by where the time went: ``on_cpu`` when the loop's thread used at
    least half of it in CPU (the loop ran code that did not yield: ours, a library's, the
    garbage collector), ``off_cpu`` otherwise (the thread waited for a core, a CPU quota,
    or a blocking system call: the machine's doing, or a synchronous call). The thread's
    CPU, not the process's: other threads (a thread pool's work) do not block the loop."""
    loop = asyncio.get_running_loop()
    on_cpu = EVENT_LOOP_LAG.labels(service, "on_cpu").observe
    off_cpu = EVENT_LOOP_LAG.labels(service, "off_cpu").observe
    cpu = time.thread_time
    while True:
        asked = loop.time() + interval
        used = cpu()
        await asyncio.sleep(interval)
        lag = max(0.0, loop.time() - asked)
        (on_cpu if cpu() - used >= lag / 2 else off_cpu)(lag)


@asynccontextmanager
async def loop_lag_probe(service: str, interval: float) -> AsyncIterator[None]:
    """``probe_loop_lag`` for as long as the block runs; nothing when ``interval`` is 0."""
    if interval <= 0:
        yield
        return
    task = asyncio.create_task(probe_loop_lag(service, interval), name=f"{service}-loop-lag")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def create_service_app(defn: ServiceDefinition) -> FastAPI:
    settings = defn.settings
    setup_logging(defn.name, level=settings.log_level, json_logs=settings.log_json)
    setup_tracing(defn.name, otlp_endpoint=settings.otel_exporter_otlp_endpoint)
    live_topics = events_topics(defn.produces, settings.kafka_topic_prefix)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(
            settings.database_url,
            pool_size=settings.db_pool_size,
            read_pool_size=settings.db_read_pool_size,
            ping_idle_seconds=settings.db_ping_idle_seconds,
        )
        db.sessionmaker.configure(info={SOURCE_INFO_KEY: defn.name})
        if tracing_exported():  # a span per statement costs CPU even when dropped
            # both pools (the read one is created here rather than on the first GET:
            # the instrumentor instruments once)
            SQLAlchemyInstrumentor().instrument(
                engines=[db.engine.sync_engine, db.read_engine.sync_engine]
            )
        app.state.db = db
        app.state.settings = settings
        app.state.token_verifier = TokenVerifier(
            secret=settings.jwt_secret,
            jwks_url=settings.jwt_jwks_url,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )
        kafka = KafkaRuntime(defn, db)
        app.state.kafka = kafka
        # the live-updates hub; its consumer starts with the first stream (servicekit.live)
        live = LiveEvents(
            topics=live_topics,
            kafka_options=kafka.options,
            buffer_size=settings.live_buffer_size,
            buffer_seconds=settings.live_buffer_seconds,
            queue_size=settings.live_queue_size,
            partitions=settings.kafka_topic_partitions,
            replication_factor=settings.kafka_replication_factor,
        )
        app.state.live = live
        await kafka.start()
        try:
            # around the service's own start-up and shutdown: they block the loop too
            async with loop_lag_probe(defn.name, settings.event_loop_lag_probe_seconds):
                if defn.extra_lifespan is not None:
                    async with defn.extra_lifespan(app):
                        freeze_startup_heap(enabled=bool(settings.gc_freeze))
                        yield
                else:
                    freeze_startup_heap(enabled=bool(settings.gc_freeze))
                    yield
        finally:
            await live.stop()
            await kafka.stop()
            await db.dispose()

    app = FastAPI(
        title=defn.title or defn.name,
        description=defn.description,
        version=defn.version,
        lifespan=lifespan,
        openapi_tags=defn.openapi_tags,
        telemetry=telemetry_config(),  # type: ignore[arg-type]
        # `tickets.create`, not `create_ticket_v1_tickets_post` (servicekit.api_style)
        generate_unique_id_function=operation_id,
    )
    app.state.liveness = ProgressWatch(settings.liveness_stall_seconds)
    if defn.clock is not None:
        app.state.clock = defn.clock
    if defn.events is not None:
        # handlers read app.state.clock at each event: a test replacing it is seen
        defn.events.clock = StateClock(app.state)
    install_problem_handlers(app)
    install_problem_documentation(app)
    # CORS too (``servicekit.cors``): requests with an ``Origin`` go through it first
    app.add_middleware(
        ServiceHttpMiddleware,
        service=defn.name,
        fastapi_app=app,
        cors_origins=settings.cors_origins or [],
    )
    add_probe_routes(app)  # before the routers: first among the documented paths
    if settings.run_api:
        for router in defn.routers:
            add_router_routes(app, router)
        if live_topics:
            add_router_routes(app, live_router())  # GET /v1/events, the same on every service
    # Every route's ids resolved to their tenant, or the app does not start.
    install_ownership(app, defn.ownership or Ownership())
    # A guarded route's ownership check runs inside its guard (servicekit.guard).
    install_guards(app)
    # One operation id per operation, or the app does not start; unknown query keys 400.
    check_operation_ids(app)
    install_query_check(app)
    return app


def add_router_routes(app: FastAPI, router: APIRouter) -> None:
    """The router's routes declared on the app itself, what ``app.include_router`` did
    before FastAPI 0.165, instead of one included-router entry: FastAPI (0.165) matches an
    included router's routes twice per request (once to select the router, once to
    handle it) with scope bookkeeping around every candidate, ~170 calls of a ticket page
    (docs/decisions/0042-one-guard-one-match.md).

    A router's ``APIRoute`` already holds what the router added to it (prefix, tags,
    dependencies, responses, callbacks, default response class); each is declared again
    with ``app.router.add_api_route``, FastAPI's public way to declare a route, with the
    same route class, so what the app adds (its operation-id function, its dependency
    overrides) applies as it did through ``include_router``. The OpenAPI documents are
    byte-for-byte the same (``test_app_routes.py``). A router holding anything but
    ``APIRoute``s (websockets, mounts, static frontends) is included as before."""
    routes = list(router.routes)
    low_priority = getattr(router, "_low_priority_routes", None)
    if low_priority or not all(isinstance(r, APIRoute) for r in routes):
        app.include_router(router)
        return
    for route in routes:
        assert isinstance(route, APIRoute)
        app.router.add_api_route(
            route.path,
            route.endpoint,
            response_model=route.response_model,
            status_code=route.status_code,
            tags=route.tags,
            dependencies=route.dependencies,
            summary=route.summary,
            description=route.description,
            response_description=route.response_description,
            responses=route.responses,
            deprecated=route.deprecated,
            methods=route.methods,
            operation_id=route.operation_id,
            response_model_include=route.response_model_include,
            response_model_exclude=route.response_model_exclude,
            response_model_by_alias=route.response_model_by_alias,
            response_model_exclude_unset=route.response_model_exclude_unset,
            response_model_exclude_defaults=route.response_model_exclude_defaults,
            response_model_exclude_none=route.response_model_exclude_none,
            include_in_schema=route.include_in_schema,
            response_class=route.response_class,
            name=route.name,
            callbacks=route.callbacks,
            openapi_extra=route.openapi_extra,
            generate_unique_id_function=route.generate_unique_id_function,
            strict_content_type=route.strict_content_type,
            max_body_size=route.max_body_size,
            form_limits=route.form_limits or None,
            route_class_override=type(route),
        )


PROBE_TAGS: list[str | Enum] = ["health"]
_OK_BODY = b'{"status":"ok"}'  # what ``JSONResponse({"status": "ok"})`` renders


def add_probe_routes(app: FastAPI) -> None:
    """``/healthz``, ``/readyz`` and ``/metrics`` as the app's own routes
    (``app.add_api_route``, what ``@app.get`` does), not an included router: FastAPI
    (0.165) matches an included router's routes twice per request (once to select the
    router, once to handle it, with scope bookkeeping for each candidate), ~100 calls
    of a ``/healthz`` that a kubelet sends every few seconds. The OpenAPI document is the
    same: same tags, summaries, responses and operation ids, and the probes still come
    first among the documented paths (they are added before any router is included).

    The probes read the app's state through the ``State`` object itself (closed over),
    not ``request.app.state``: tests and the lifespan replace ``liveness`` and ``kafka``
    on it, and those are seen."""
    state = app.state

    async def healthz() -> Response:
        watch: ProgressWatch | None = getattr(state, "liveness", None)
        kafka: KafkaRuntime | None = getattr(state, "kafka", None)
        if watch is not None and kafka is not None and kafka.consumer is not None:
            processed, lag = consumer_signal(kafka.consumer)
            verdict = watch.check(processed=processed, lag=lag)
            if not verdict.alive:
                return JSONResponse({"status": "stalled", "reason": verdict.reason}, 503)
        # the constant body as bytes: rendering ``{"status": "ok"}`` through ``json``
        # each time was a third of the endpoint's own calls
        return Response(_OK_BODY, media_type="application/json")

    async def readyz() -> JSONResponse:
        checks: dict[str, str] = {}
        db: Database = state.db
        kafka: KafkaRuntime = state.kafka
        try:
            await asyncio.wait_for(db.ping(), 2.0)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unavailable: {type(exc).__name__}"
        if kafka.needed_for_readiness:
            try:
                await kafka.check()
                checks["kafka"] = "ok"
            except Exception as exc:
                checks["kafka"] = f"unavailable: {type(exc).__name__}"
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.add_api_route(
        "/healthz",
        healthz,
        methods=["GET"],
        tags=PROBE_TAGS,
        summary="Liveness: the process is up and its consumer is not stuck",
        responses={503: {"description": "Events wait and the consumer processed none lately"}},
    )
    app.add_api_route(
        "/readyz",
        readyz,
        methods=["GET"],
        tags=PROBE_TAGS,
        summary="Readiness: database reachable, and Kafka for a worker (relay, consumers)",
        responses={503: {"description": "The database or Kafka is not reachable (yet)"}},
    )
    app.add_api_route(
        "/metrics",
        metrics,
        methods=["GET"],
        tags=PROBE_TAGS,
        summary="Prometheus metrics",
        include_in_schema=False,
    )
