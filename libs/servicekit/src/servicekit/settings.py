"""Service settings: one pydantic-settings class per service, env prefix per service.

Shared infrastructure settings (Kafka, JWT, environment) are read from the prefixed
name first (``TICKET_KAFKA_BOOTSTRAP_SERVERS``) and fall back to the unprefixed one
(``KAFKA_BOOTSTRAP_SERVERS``), so one environment can configure all four services.

Secrets: each class lists its secret fields in ``secret_fields``; in production a
development default, an empty value or a placeholder in any of them is refused at
startup, with every offending setting named at once. A field whose name looks like a
secret but is not declared is a ``TypeError`` when the class is defined, so a new
secret cannot slip past the check.
"""

from __future__ import annotations

import json
import re
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from servicekit.localstack import (
    default_database_url,
    default_kafka_bootstrap,
    default_smtp_url,
)
from servicekit.mail import SmtpTarget

DEV_JWT_SECRET = "dev-only-insecure-jwt-secret-change-me"
DEV_CORS_ORIGINS = ("http://localhost:5173", "http://127.0.0.1:5173")
"""Where a local Vite dev server runs: the browser origins allowed outside production."""
DEV_MAIL_FROM = "supportops <support@supportops.localhost>"
PLACEHOLDER_MARKERS = (
    "change-me",
    "changeme",
    "placeholder",
    "dev-only",
    "replace_me",
    "replace-me",
)
SECRET_LOOKING = re.compile(
    r"(secret|password|passwd|token|api_key|private_key|signing_key|credential)", re.IGNORECASE
)
"""Field names that hold a secret unless the class says otherwise (``not_secret_fields``)."""


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


def _shared(name: str, default: Any, **kwargs: Any) -> Any:
    """A field read from ``<PREFIX><NAME>`` or the bare ``<NAME>``.

    The prefixed alias is filled in by ``ServiceSettings.__init_subclass__``.
    """
    return Field(default, validation_alias=AliasChoices(name.lower(), name), **kwargs)


class ServiceSettings(BaseSettings):
    """Base settings; each service subclasses it and sets ``service_name``/prefix."""

    service_name: ClassVar[str] = "service"
    env_prefix: ClassVar[str] = ""
    default_port: ClassVar[int] = 8000
    default_database: ClassVar[str] = "postgres"
    secret_fields: ClassVar[frozenset[str]] = frozenset(
        {"jwt_secret", "kafka_sasl_password", "database_url", "smtp_password"}
    )
    """Settings production refuses to run with a development default, an empty value or a
    placeholder. A subclass adds its own: ``ServiceSettings.secret_fields | {"x_secret"}``.
    ``database_url`` is one: its default connects with the development password."""
    not_secret_fields: ClassVar[frozenset[str]] = frozenset()
    """Fields named like a secret that hold none (e.g. a token's lifetime)."""
    production_fields: ClassVar[frozenset[str]] = frozenset(
        {"kafka_bootstrap_servers", "smtp_url", "mail_from"}
    )
    """Settings production must be given: unset, they fall back to the local stack
    (``servicekit.localstack``: the local broker, Mailpit) or to a development value
    (``MAIL_FROM``). Empty or left at the development default, they are refused at
    startup, like the secrets."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    environment: Environment = _shared("ENVIRONMENT", Environment.development)
    host: str = "127.0.0.1"
    port: int = 0
    database_url: str = ""
    db_pool_size: int = 10
    db_read_pool_size: int | None = None
    """The read-only pool a GET's statements use (decision 0039), opened on the first
    GET; ``None``: the same size as ``db_pool_size`` (and as many overflow)."""
    db_ping_idle_seconds: float = _shared("DB_PING_IDLE_SECONDS", 5.0)
    """A pooled database connection idle longer than this is pinged (one round trip)
    before a request or message uses it; one used more recently is not (a connection
    that broke under use is replaced after its error: a 503, then recovery). Lower it
    below a firewall's or proxy's idle timeout that drops flows silently; ``0`` pings
    every reused connection (docs/decisions/0037-idle-gated-ping.md)."""
    # empty: the local broker on SUPPORTOPS_KAFKA_PORT (servicekit.localstack)
    kafka_bootstrap_servers: str = _shared("KAFKA_BOOTSTRAP_SERVERS", "")
    kafka_security_protocol: str = _shared("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
    kafka_ssl_cafile: str | None = _shared("KAFKA_SSL_CAFILE", None)
    kafka_sasl_mechanism: str | None = _shared("KAFKA_SASL_MECHANISM", None)
    kafka_sasl_username: str | None = _shared("KAFKA_SASL_USERNAME", None)
    kafka_sasl_password: str | None = _shared("KAFKA_SASL_PASSWORD", None)
    kafka_topic_prefix: str = _shared("KAFKA_TOPIC_PREFIX", "")
    kafka_topic_partitions: int = _shared("KAFKA_TOPIC_PARTITIONS", 3)
    kafka_replication_factor: int = _shared("KAFKA_REPLICATION_FACTOR", 1)
    jwt_secret: str = _shared("JWT_SECRET", DEV_JWT_SECRET)
    jwt_jwks_url: str | None = _shared("JWT_JWKS_URL", None)
    jwt_issuer: str | None = _shared("JWT_ISSUER", None)
    jwt_audience: str | None = _shared("JWT_AUDIENCE", None)
    log_level: str = _shared("LOG_LEVEL", "INFO")
    log_json: bool = _shared("LOG_JSON", True)
    otel_exporter_otlp_endpoint: str | None = _shared("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    run_api: bool = True
    run_relay: bool = True
    run_consumers: bool = True
    # The in-process scheduler (servicekit.scheduler); unset means on, except under
    # ENVIRONMENT=test, where a test that wants it sets it (scans at the wall clock
    # would otherwise fire in the middle of unrelated tests).
    run_scheduler: bool | None = None
    # Freeze the heap that start-up built (modules, routes, models, caches) out of the
    # garbage collector's reach once the app is up: a full collection then scans only what
    # requests made since (~2 ms instead of 100-150 ms, a stall every few hundred requests;
    # decision 0040). Unset means on, except under ENVIRONMENT=test, where one process starts
    # hundreds of apps and a frozen app's cycles would never be collected.
    gc_freeze: bool | None = _shared("GC_FREEZE", None)
    # Every this many seconds a task measures how late the event loop wakes it, into the
    # ``event_loop_lag_seconds`` histogram: a blocked loop (CPU-bound or synchronous work)
    # delays every request it holds. 0 (the default) runs no probe; the scale benchmark
    # sets 0.01 to tell a service that stalled from a request held up elsewhere.
    event_loop_lag_probe_seconds: float = _shared("EVENT_LOOP_LAG_PROBE_SECONDS", 0.0, ge=0)
    relay_batch_size: int = 500
    relay_poll_interval_seconds: float = 1.0
    # the relay's own pool: request traffic exhausting db_pool_size never stops delivery
    relay_db_pool_size: int = 2
    consumer_max_retries: int = 3
    consumer_retry_backoff_seconds: float = 0.2
    # infrastructure errors are retried without limit; this caps the wait between tries
    consumer_max_backoff_seconds: float = 10.0
    consumer_lag_refresh_seconds: float = 5.0
    # the watchdog: a partition with lag and no progress this long restarts the consumer
    consumer_stall_seconds: float = 30.0
    liveness_stall_seconds: float = 600.0
    """/healthz fails (and the kubelet restarts the pod) when events wait and the
    consumer processed none for this long: the watchdog's in-process restarts
    (``consumer_stall_seconds``) did not help."""
    cors_origins: Annotated[list[str] | None, NoDecode] = _shared("SUPPORTOPS_CORS_ORIGINS", None)
    """Browser origins allowed to call the API (CORS), comma-separated or a JSON list;
    ``*`` allows any origin. Unset: the local Vite origins outside production
    (``DEV_CORS_ORIGINS``), none in production. Empty: none."""
    # Live updates (``GET /v1/events``, servicekit.live; docs/api-style.md "Live updates")
    live_heartbeat_seconds: float = _shared("LIVE_HEARTBEAT_SECONDS", 15.0)
    """An SSE comment line this often keeps proxies from closing an idle stream."""
    live_buffer_size: int = _shared("LIVE_BUFFER_SIZE", 1000)
    """Events kept per process for ``Last-Event-ID`` resumption (the newest N)..."""
    live_buffer_seconds: float = _shared("LIVE_BUFFER_SECONDS", 300.0)
    """...and only those at most this old: beyond the window a client gets ``reset``."""
    live_queue_size: int = _shared("LIVE_QUEUE_SIZE", 500)
    """Events waiting for one slow subscriber before it is dropped with ``overflow``."""

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        # an operator writes "https://a.example,https://b.example"; a JSON list also works
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    # Outbound mail (servicekit.mail, docs/email.md). Empty SMTP_URL: the local Mailpit
    # (SUPPORTOPS_MAILPIT_SMTP_PORT, servicekit.localstack).
    smtp_url: str = _shared("SMTP_URL", "")
    """``smtp://[user@]host:port[?starttls=true]`` or ``smtps://[user@]host:port``."""
    smtp_password: str | None = _shared("SMTP_PASSWORD", None)
    smtp_timeout_seconds: float = _shared("SMTP_TIMEOUT_SECONDS", 10.0)
    mail_from: str = _shared("MAIL_FROM", DEV_MAIL_FROM)
    """The From of every mail; its domain is the domain of our Message-IDs."""
    run_mail_sender: bool | None = None
    """Unset: wherever the relay runs (the worker process)."""
    mail_max_backoff_seconds: float = 60.0
    mail_poll_interval_seconds: float = 1.0

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        prefix = cls.env_prefix
        cls.model_config = SettingsConfigDict(
            env_prefix=prefix, extra="ignore", populate_by_name=True
        )
        # Shared fields: accept PREFIX_NAME first, then the bare NAME.
        for name, field in cls.model_fields.items():
            alias = field.validation_alias
            if isinstance(alias, AliasChoices):
                bare = [c for c in alias.choices if isinstance(c, str) and c.isupper()]
                if bare:
                    field.validation_alias = AliasChoices(f"{prefix}{bare[0]}", bare[0], name)
        cls.model_rebuild(force=True)
        _check_secret_declarations(cls)

    @model_validator(mode="after")
    def _refuse_dev_secrets_and_fill_defaults(self) -> ServiceSettings:
        # Checked before the defaults are filled in: an unset DATABASE_URL must be seen
        # as unset, not as the development URL (and its password) it becomes below.
        if self.environment is Environment.production:
            problems = []
            secrets = self.placeholder_secrets()
            if secrets:
                problems.append(
                    "development default, empty or placeholder secrets are refused in "
                    "production; set real values for: " + ", ".join(secrets)
                )
            unset = self.unset_production_settings()
            if unset:
                problems.append(
                    "local-stack or development fallbacks are refused in production; "
                    "set: " + ", ".join(unset)
                )
            if problems:
                raise ValueError("; ".join(problems))
        if not self.port:
            self.port = self.default_port
        if self.run_scheduler is None:
            self.run_scheduler = self.environment is not Environment.test
        if self.gc_freeze is None:
            self.gc_freeze = self.environment is not Environment.test
        if not self.database_url:
            self.database_url = default_database_url(self.default_database)
        if not self.kafka_bootstrap_servers:
            self.kafka_bootstrap_servers = default_kafka_bootstrap()
        if self.cors_origins is None:
            # production allows no browser origin until one is named
            production = self.environment is Environment.production
            self.cors_origins = [] if production else list(DEV_CORS_ORIGINS)
        if not self.smtp_url:
            self.smtp_url = default_smtp_url()
        if self.run_mail_sender is None:
            self.run_mail_sender = self.run_relay
        return self

    def placeholder_secrets(self) -> list[str]:
        """Env names of the secrets in use that hold a development default, nothing, or a
        placeholder (sorted)."""
        found = []
        for name in sorted(self.secret_fields):
            if self.secret_unused(name):
                continue
            value = getattr(self, name)
            default = type(self).model_fields[name].get_default(call_default_factory=True)
            if value is None or value == default or _is_placeholder(str(value)):
                found.append(self.env_name(name))
        return found

    def unset_production_settings(self) -> list[str]:
        """Env names of ``production_fields`` that are empty or at their development
        default (sorted)."""
        found = []
        for name in sorted(self.production_fields):
            value = getattr(self, name)
            default = type(self).model_fields[name].get_default(call_default_factory=True)
            if not value or not str(value).strip() or value == default:
                found.append(self.env_name(name))
        return found

    def secret_unused(self, name: str) -> bool:
        """A declared secret this configuration does not use, so it need not be set.
        Subclasses extend it for their own conditional secrets."""
        if name == "jwt_secret":
            return self.jwt_jwks_url is not None  # RS256 via JWKS: no shared secret
        if name == "kafka_sasl_password":
            return self.kafka_sasl_mechanism is None
        if name == "smtp_password":  # a relay without authentication (or user in the URL)
            return "@" not in self.smtp_url.split("//", 1)[-1].split("/", 1)[0]
        return False

    @classmethod
    def env_name(cls, name: str) -> str:
        """The environment variable an operator sets for a field (the shared, bare name
        for settings read from ``<PREFIX><NAME>`` or ``<NAME>``)."""
        alias = cls.model_fields[name].validation_alias
        if isinstance(alias, AliasChoices):
            names = [c for c in alias.choices if isinstance(c, str) and c.isupper()]
            if names:
                return names[-1]
        return f"{cls.env_prefix}{name.upper()}"

    def smtp_target(self) -> SmtpTarget:
        return SmtpTarget.from_url(
            self.smtp_url, password=self.smtp_password, timeout=self.smtp_timeout_seconds
        )

    @property
    def is_development(self) -> bool:
        return self.environment is not Environment.production


def _check_secret_declarations(cls: type[ServiceSettings]) -> None:
    """Every declared secret is a field; every secret-looking field is declared (or said
    not to be a secret): otherwise production could run on its development default."""
    unknown = sorted(cls.secret_fields - set(cls.model_fields))
    if unknown:
        raise TypeError(f"{cls.__name__}.secret_fields names no setting: {', '.join(unknown)}")
    undeclared = sorted(
        name
        for name in cls.model_fields
        if SECRET_LOOKING.search(name)
        and name not in cls.secret_fields
        and name not in cls.not_secret_fields
    )
    if undeclared:
        raise TypeError(
            f"{cls.__name__} has settings that look like secrets but are not in "
            f"secret_fields (production would accept their defaults): {', '.join(undeclared)}; "
            "declare them, or list them in not_secret_fields"
        )


def _is_placeholder(value: str | None) -> bool:
    if not value:
        return True
    lowered = value.lower()
    return any(marker in lowered for marker in PLACEHOLDER_MARKERS) or len(value) < 16
