"""Where the local infrastructure listens: the one source of default addresses.

``deploy/local/*.sh`` start PostgreSQL, Kafka, stripe-mock and Mailpit on the ports named
by ``SUPPORTOPS_PG_PORT``, ``SUPPORTOPS_KAFKA_PORT``, ``SUPPORTOPS_STRIPE_MOCK_PORT``,
``SUPPORTOPS_MAILPIT_SMTP_PORT`` and ``SUPPORTOPS_MAILPIT_UI_PORT`` (5432, 9092, 12111,
1025, 8025 by default), so a second stack can run beside the first. Every
default address in the code comes from here: the services' settings (database URL,
Kafka bootstrap, stripe-mock base), their commands (``migrate``, ``create-topics``,
``seed-plans``), ``servicekit.testing`` and ``scripts/print-urls.sh``. An explicit
``*_DATABASE_URL``, ``KAFKA_BOOTSTRAP_SERVERS`` or ``STRIPE_API_BASE`` still wins.

The four services listen on ``TICKET_PORT`` … ``ESCALATION_PORT`` (8001-8004) and the
gateway in front of them (``deploy/local/gateway.sh``, one origin for browsers) on
``SUPPORTOPS_GATEWAY_PORT`` (8000); :func:`service_ports` is where the gateway's
Caddyfile and ``scripts/print-urls.sh`` read them.

``python -m servicekit.localstack`` prints the addresses the services will use, as
shell assignments (for ``scripts/print-urls.sh`` and ``deploy/local/gateway.sh``).
"""

from __future__ import annotations

import os

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

LOCAL_HOST = "127.0.0.1"
PG_USER = "supportops"
PG_PASSWORD = "supportops"  # the local dev/test cluster's; never a real secret
SERVICE_DATABASES = {
    "ticket": "tickets",
    "billing": "billing",
    "onboarding": "onboarding",
    "escalation": "escalation",
}


# The gateway's path prefix of each service -> its default port (``<PREFIX>_PORT``
# overrides it, as for deploy/local/services.sh and the services' own settings).
SERVICE_PORTS = {"ticket": 8001, "billing": 8002, "onboarding": 8003, "escalation": 8004}


class LocalPorts(BaseSettings):
    """The ports deploy/local uses (the same variable names)."""

    model_config = SettingsConfigDict(env_prefix="SUPPORTOPS_", extra="ignore")

    pg_port: int = Field(5432, ge=1, le=65535)
    kafka_port: int = Field(9092, ge=1, le=65535)
    stripe_mock_port: int = Field(12111, ge=1, le=65535)
    mailpit_smtp_port: int = Field(1025, ge=1, le=65535)
    mailpit_ui_port: int = Field(8025, ge=1, le=65535)
    gateway_port: int = Field(8000, ge=1, le=65535)


def local_ports() -> LocalPorts:
    """Read at call time, so a process (or a test) sees its current environment."""
    return LocalPorts()


def default_database_url(database: str, *, driver: str = "postgresql+asyncpg") -> str:
    port = local_ports().pg_port
    return f"{driver}://{PG_USER}:{PG_PASSWORD}@{LOCAL_HOST}:{port}/{database}"


def default_kafka_bootstrap() -> str:
    return f"{LOCAL_HOST}:{local_ports().kafka_port}"


def default_stripe_api_base() -> str:
    return f"http://{LOCAL_HOST}:{local_ports().stripe_mock_port}"


def default_smtp_url() -> str:
    """Mailpit's SMTP listener (deploy/local/mailpit.sh): plain SMTP, no auth."""
    return f"smtp://{LOCAL_HOST}:{local_ports().mailpit_smtp_port}"


def default_mailpit_api() -> str:
    """Mailpit's web UI and REST API (``/api/v1/messages``)."""
    return f"http://{LOCAL_HOST}:{local_ports().mailpit_ui_port}"


def service_ports(env: dict[str, str] | None = None) -> dict[str, int]:
    """``prefix -> port`` of the four services (``TICKET_PORT`` … or the defaults)."""
    environ = os.environ if env is None else env
    out: dict[str, int] = {}
    for prefix, default in SERVICE_PORTS.items():
        raw = environ.get(f"{prefix.upper()}_PORT") or str(default)
        port = int(raw)
        if not 1 <= port <= 65535:
            raise ValueError(f"{prefix.upper()}_PORT={raw} is not a port")
        out[prefix] = port
    return out


def effective_addresses(env: dict[str, str] | None = None) -> dict[str, str]:
    """What the services use, explicit overrides included: ``NAME -> address``."""
    environ = os.environ if env is None else env
    out: dict[str, str] = {}
    for prefix, database in SERVICE_DATABASES.items():
        name = f"{prefix.upper()}_DATABASE_URL"
        out[name] = environ.get(name) or default_database_url(database, driver="postgresql")
    out["KAFKA_BOOTSTRAP_SERVERS"] = environ.get("KAFKA_BOOTSTRAP_SERVERS") or (
        default_kafka_bootstrap()
    )
    out["STRIPE_API_BASE"] = environ.get("STRIPE_API_BASE") or default_stripe_api_base()
    out["SMTP_URL"] = environ.get("SMTP_URL") or default_smtp_url()
    out["MAILPIT_UI"] = default_mailpit_api()
    for prefix, port in service_ports(dict(environ)).items():
        out[f"{prefix.upper()}_PORT"] = str(port)
    gateway = environ.get("SUPPORTOPS_GATEWAY_PORT") or str(
        LocalPorts.model_fields["gateway_port"].default
    )
    out["GATEWAY_URL"] = f"http://{LOCAL_HOST}:{gateway}"
    return out


def main() -> int:
    import shlex

    for name, value in effective_addresses().items():
        print(f"{name}={shlex.quote(value)}")  # noqa: T201 - the command's output
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
