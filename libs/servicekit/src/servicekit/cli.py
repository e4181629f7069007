"""The command line every service shares: serve, migrate, create-topics, token, scans."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.auth import Role, mint_token
from servicekit.db import Database
from servicekit.kafka import client_options, ensure_topics
from servicekit.migrations import upgrade
from servicekit.outbox import SOURCE_INFO_KEY
from servicekit.settings import ServiceSettings
from supportops_events import registry

Command = Callable[[ServiceSettings, argparse.Namespace], Coroutine[Any, Any, int]]


T = TypeVar("T")


@asynccontextmanager
async def command_database(
    settings: ServiceSettings,
    service: str,
    *,
    pool_size: int = 2,
    configure: Callable[[Database], object] | None = None,
) -> AsyncIterator[Database]:
    """The service's database for a command (a scan, a refit, a reconciliation): its
    sessions marked as ``service``'s, so the events it emits carry the service as their
    source as the app's do; ``configure`` applied first (the service's own session
    set-up); disposed after. A command is one process doing one thing: a small pool."""
    db = Database(settings.database_url, pool_size=pool_size)
    db.sessionmaker.configure(info={SOURCE_INFO_KEY: service})
    if configure is not None:
        configure(db)
    try:
        yield db
    finally:
        await db.dispose()


async def in_unit_of_work(
    settings: ServiceSettings,
    service: str,
    work: Callable[[AsyncSession], Awaitable[T]],
    *,
    configure: Callable[[Database], object] | None = None,
) -> T:
    """Run ``work`` in one unit of work of the service's ``command_database``."""
    async with (
        command_database(settings, service, configure=configure) as db,
        db.unit_of_work() as session,
    ):
        return await work(session)


@dataclass
class ServiceCli:
    name: str
    settings_factory: Callable[[], ServiceSettings]
    app_import: str  # "ticket_service.main:create_app" (a factory)
    migrations_dir: Path  # the folder holding env.py and versions/
    produces: list[str] = field(default_factory=list)
    consumes: list[str] = field(default_factory=list)
    commands: dict[str, tuple[str, Command]] = field(default_factory=dict)
    # run by `migrate` after the upgrade (data that follows the code: a backfill, resumable)
    after_migrate: Command | None = None

    def main(self, argv: list[str] | None = None) -> int:
        parser = argparse.ArgumentParser(prog=self.name)
        sub = parser.add_subparsers(dest="command", required=True)
        serve = sub.add_parser("serve", help="run the API, outbox relay and consumers")
        serve.add_argument("--host")
        serve.add_argument("--port", type=int)
        serve.add_argument("--reload", action="store_true")
        sub.add_parser("migrate", help="apply the database migrations (alembic upgrade head)")
        sub.add_parser("create-topics", help="create this service's Kafka topics if missing")
        token = sub.add_parser("token", help="print a development JWT")
        token.add_argument("--role", action="append", choices=[r.value for r in Role])
        token.add_argument("--tenant")
        token.add_argument("--subject")
        token.add_argument("--ttl", type=int, default=12 * 3600)
        for command, (help_text, _) in self.commands.items():
            sub.add_parser(command, help=help_text)
        args = parser.parse_args(argv)
        settings = self.settings_factory()
        if args.command == "serve":
            return self._serve(settings, args)
        if args.command == "migrate":
            upgrade(self.migrations_dir.parent, settings.database_url)
            print(f"{self.name}: migrations applied")
            if self.after_migrate is not None:
                return asyncio.run(self.after_migrate(settings, args))
            return 0
        if args.command == "create-topics":
            return asyncio.run(self._create_topics(settings))
        if args.command == "token":
            if not settings.is_development:
                print("tokens are minted only in development", file=sys.stderr)
                return 2
            print(
                mint_token(
                    secret=settings.jwt_secret,
                    roles=args.role or ["agent"],
                    subject=args.subject,
                    tenant_id=args.tenant,
                    ttl_seconds=args.ttl,
                    issuer=settings.jwt_issuer,
                    audience=settings.jwt_audience,
                )
            )
            return 0
        _, command_fn = self.commands[args.command]
        return asyncio.run(command_fn(settings, args))

    def _serve(self, settings: ServiceSettings, args: argparse.Namespace) -> int:
        import uvicorn

        uvicorn.run(
            self.app_import,
            factory=True,
            host=args.host or settings.host,
            port=args.port or settings.port,
            reload=args.reload,
            log_config=None,
            timeout_graceful_shutdown=20,
        )
        return 0

    async def _create_topics(self, settings: ServiceSettings) -> int:
        topics = set(self.produces) | set(self.consumes)
        if self.consumes:
            topics.add(registry.dlq_topic(self.name))
        created = await ensure_topics(
            client_options(
                settings.kafka_bootstrap_servers,
                security_protocol=settings.kafka_security_protocol,
                ssl_cafile=settings.kafka_ssl_cafile,
                sasl_mechanism=settings.kafka_sasl_mechanism,
                sasl_username=settings.kafka_sasl_username,
                sasl_password=settings.kafka_sasl_password,
            ),
            [settings.kafka_topic_prefix + t for t in topics],
            partitions=settings.kafka_topic_partitions,
            replication_factor=settings.kafka_replication_factor,
        )
        print(f"{self.name}: topics ready ({len(created)} created)")
        return 0
