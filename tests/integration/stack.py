"""The whole system as real processes: four uvicorn services (on free ports) on test databases and a
test topic prefix, on the one Kafka and PostgreSQL of the run."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from servicekit.localstack import default_smtp_url, default_stripe_api_base
from servicekit.testing import create_database, drop_database, topic_prefix, unique_name

ROOT = Path(__file__).resolve().parents[2]
LOG_DIR = ROOT / ".local" / "logs" / "tests"
STRIPE_WEBHOOK_SECRET = "whsec_integration-journeys-0123456789"
STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE") or default_stripe_api_base()


@dataclass
class ServiceProcess:
    name: str
    prefix: str
    port: int
    database: str
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.log_path = LOG_DIR / f"{self.name}-{self.port}.log"
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / self.name), "serve", "--port", str(self.port)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, like a crashed pod."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def log_tail(self, lines: int = 40) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


SERVICES = [
    ("ticket-service", "TICKET_"),
    ("billing-service", "BILLING_"),
    ("onboarding-service", "ONBOARDING_"),
    ("escalation-service", "ESCALATION_"),
]


@dataclass
class Stack:
    prefix: str
    services: dict[str, ServiceProcess] = field(default_factory=dict)

    def __getitem__(self, name: str) -> ServiceProcess:
        return self.services[name]

    async def wait_ready(self, *names: str, timeout: float = 90.0) -> None:
        wanted = [self.services[n] for n in names] if names else list(self.services.values())
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=3) as client:
            for svc in wanted:
                while True:
                    if svc.process is not None and svc.process.poll() is not None:
                        raise RuntimeError(f"{svc.name} exited:\n{svc.log_tail()}")
                    try:
                        if (await client.get(f"{svc.url}/readyz")).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{svc.name} not ready:\n{svc.log_tail()}")
                    await asyncio.sleep(0.25)

    def restart(self, name: str) -> None:
        self.services[name].start()


def free_port() -> int:
    """A port nobody listens on now: runs in parallel never collide on fixed ports."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def start_stack(
    base_port: int | None = None,
    *,
    otlp_endpoint: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> Stack:
    prefix = topic_prefix()
    stack = Stack(prefix=prefix)
    common = {
        **os.environ,
        "ENVIRONMENT": "test",
        "KAFKA_TOPIC_PREFIX": prefix,
        "LOG_LEVEL": "INFO",
        "STRIPE_API_BASE": STRIPE_API_BASE,
        "STRIPE_WEBHOOK_SECRET": STRIPE_WEBHOOK_SECRET,
        # The Mailpit `make test` runs (scripts/with-infra.sh, SUPPORTOPS_MAILPIT_*): the
        # journeys read the mail there (servicekit.mailpit uses the same ports), so a relay
        # in the developer's own SMTP_URL must not take it.
        "SMTP_URL": default_smtp_url(),
        **(extra_env or {}),
    }
    if otlp_endpoint:
        # export spans to the journeys' collector, in small batches without delay
        common["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp_endpoint
        common["OTEL_BSP_SCHEDULE_DELAY"] = "200"
    for offset, (name, env_prefix) in enumerate(SERVICES):
        database = unique_name(f"it_{name.split('-')[0]}")
        url = await create_database(database)
        env = {**common, f"{env_prefix}DATABASE_URL": url}
        svc = ServiceProcess(
            name=name,
            prefix=env_prefix,
            port=free_port() if base_port is None else base_port + offset,
            database=database,
            env=env,
        )
        migrate = await asyncio.to_thread(
            subprocess.run,
            [str(Path(sys.executable).parent / name), "migrate"],
            env=env,
            capture_output=True,
            text=True,
        )
        if migrate.returncode != 0:
            raise RuntimeError(f"{name} migrate failed:\n{migrate.stderr}")
        stack.services[name] = svc
    for svc in stack.services.values():
        svc.start()
    await stack.wait_ready()
    return stack


async def stop_stack(stack: Stack) -> None:
    for svc in stack.services.values():
        svc.stop()
    for svc in stack.services.values():
        await drop_database(svc.database)
