"""A throwaway PostgreSQL cluster for tests that crash, stop or restart the database.

Started with the same script as the shared cluster (``deploy/local/postgres.sh``, hence
the same ``supportops.conf``: synchronous_commit on) on a free port, with its own state
directory (``SUPPORTOPS_PG_STATE_DIR``), so the shared PostgreSQL is never touched.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from sqlalchemy import text

from servicekit.db import Database
from servicekit.localstack import PG_PASSWORD, PG_USER
from servicekit.tables import NOTIFY_FUNCTION_SQL, NOTIFY_TRIGGER_SQL, kit_metadata

ROOT = Path(__file__).resolve().parents[3]
POSTGRES_SH = ROOT / "deploy/local/postgres.sh"
EXTERNAL_URLS = (
    "TICKET_DATABASE_URL",
    "BILLING_DATABASE_URL",
    "ONBOARDING_DATABASE_URL",
    "ESCALATION_DATABASE_URL",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ThrowawayPostgres:
    port: int
    state_dir: Path

    @property
    def data_dir(self) -> Path:
        return self.state_dir / "pg" / "data"

    @property
    def logfile(self) -> Path:
        return self.state_dir / "logs" / "postgres.log"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in EXTERNAL_URLS}
        env["SUPPORTOPS_PG_PORT"] = str(self.port)
        env["SUPPORTOPS_PG_STATE_DIR"] = str(self.state_dir)
        return env

    def url(self, database: str, *, driver: str = "postgresql+asyncpg") -> str:
        return f"{driver}://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{self.port}/{database}"

    def script(self, command: str) -> None:
        subprocess.run(
            [str(POSTGRES_SH), command],
            env=self.env(),
            check=True,
            capture_output=True,
            timeout=120,
        )

    def start(self) -> None:
        self.script("start")

    def stop(self) -> None:
        self.script("stop")

    def pg_ctl(self, *args: str, check: bool = True) -> None:
        """pg_ctl of the running cluster's binaries, as the cluster's owner."""
        opts = (self.data_dir / "postmaster.opts").read_text().strip()
        bin_dir = Path(shlex.split(opts)[0]).parent
        command = [str(bin_dir / "pg_ctl"), "-D", str(self.data_dir), *args]
        owner = self.data_dir.stat().st_uid
        if os.geteuid() == 0 and owner != 0:
            command = ["runuser", "-u", pwd.getpwuid(owner).pw_name, "--", *command]
        subprocess.run(command, check=check, capture_output=True, timeout=120, cwd="/")

    def restart_immediate(self) -> None:
        """A PostgreSQL crash: no checkpoint, recovery from WAL at the next start."""
        self.pg_ctl("restart", "-m", "immediate", "-w", "-t", "60", "-l", str(self.logfile))

    def stop_smart_nowait(self) -> None:
        """Shutting down: new connections get 57P03 until every session has left."""
        self.pg_ctl("stop", "-m", "smart", "-W")

    async def create_database(self, name: str) -> str:
        conn = await asyncpg.connect(self.url("postgres", driver="postgresql"))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return self.url(name)

    def remove(self) -> None:
        shutil.rmtree(self.state_dir, ignore_errors=True)


def start_throwaway() -> ThrowawayPostgres:
    cluster = ThrowawayPostgres(
        port=free_port(), state_dir=Path(tempfile.mkdtemp(prefix="supportops-pg-"))
    )
    try:
        cluster.start()
    except subprocess.CalledProcessError as exc:
        cluster.remove()
        raise RuntimeError(
            f"could not start a throwaway PostgreSQL: {exc.stderr.decode()[-2000:]}"
        ) from exc
    return cluster


def stop_throwaway(cluster: ThrowawayPostgres) -> None:
    try:
        cluster.stop()
    except subprocess.CalledProcessError:
        cluster.pg_ctl("stop", "-m", "immediate", check=False)
    cluster.remove()


async def create_kit_schema(url: str, *metadatas: object) -> None:
    """The kit's tables (outbox, inbox, idempotency) plus the given ones, and the outbox
    NOTIFY trigger, as a service's first migration would."""
    db = Database(url)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(kit_metadata.create_all)
            for metadata in metadatas:
                await conn.run_sync(metadata.create_all)  # type: ignore[attr-defined]
            await conn.execute(text(NOTIFY_FUNCTION_SQL))
            await conn.execute(text(NOTIFY_TRIGGER_SQL))
    finally:
        await db.dispose()
