"""Service settings: one pydantic-settings class per service, env prefix per service.

Shared infrastructure settings (Kafka, JWT, environment) are read from the prefixed
name first (``TICKET_KAFKA_BOOTSTRAP_SERVERS``) and fall back to the unprefixed one
(``KAFKA_BOOTSTRAP_SERVERS``), so one environment can configure all four services.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "dev-only-insecure-jwt-secret-change-me"
PLACEHOLDER_MARKERS = ("change-me", "changeme", "placeholder", "dev-only")


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

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    environment: Environment = _shared("ENVIRONMENT", Environment.development)
    host: str = "127.0.0.1"
    port: int = 0
    database_url: str = ""
    db_pool_size: int = 10
    kafka_bootstrap_servers: str = _shared("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
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
    relay_batch_size: int = 200
    relay_poll_interval_seconds: float = 1.0
    consumer_max_retries: int = 3
    consumer_retry_backoff_seconds: float = 0.2
    consumer_stall_seconds: float = 600.0
    """/healthz fails (and the kubelet restarts the pod) when events wait and the
    consumer processed none for this long."""

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

    @model_validator(mode="after")
    def _fill_defaults_and_refuse_placeholders(self) -> ServiceSettings:
        if not self.port:
            self.port = self.default_port
        if self.run_scheduler is None:
            self.run_scheduler = self.environment is not Environment.test
        if not self.database_url:
            self.database_url = (
                f"postgresql+asyncpg://supportops:supportops@127.0.0.1:5432/{self.default_database}"
            )
        if self.environment is Environment.production:
            problems = self.placeholder_secrets()
            if problems:
                raise ValueError(
                    "placeholder secrets are refused in production: " + ", ".join(problems)
                )
        return self

    def placeholder_secrets(self) -> list[str]:
        """Names of secret settings still holding a development placeholder."""
        found = []
        if self.jwt_jwks_url is None and _is_placeholder(self.jwt_secret):
            found.append("JWT_SECRET")
        found.extend(self.extra_placeholder_secrets())
        return found

    def extra_placeholder_secrets(self) -> list[str]:
        """Services with more secrets override this."""
        return []

    @property
    def is_development(self) -> bool:
        return self.environment is not Environment.production


def _is_placeholder(value: str | None) -> bool:
    if not value:
        return True
    lowered = value.lower()
    return any(marker in lowered for marker in PLACEHOLDER_MARKERS) or len(value) < 16
