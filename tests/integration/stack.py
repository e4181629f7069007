"""The whole system as real processes: four uvicorn services (on free ports) on test databases and a
test topic prefix, on the one Kafka and PostgreSQL of the run."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from servicekit.localstack import default_smtp_url, default_stripe_api_base
from servicekit.testing import (
    create_database,
    drop_database,
    free_ports,
    topic_prefix,
    unique_name,
)

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
        """Until each service answers ``/readyz`` as itself: another process on its port
        (a port taken between choosing and binding it) is not it being ready. Its process
        exiting raises ``ServiceExited``."""
        wanted = [self.services[n] for n in names] if names else list(self.services.values())
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=3) as client:
            for svc in wanted:
                while True:
                    if svc.process is not None and svc.process.poll() is not None:
                        raise ServiceExited(svc)
                    try:
                        if (await client.get(f"{svc.url}/readyz")).status_code == 200 and (
                            await answers_as(client, svc)
                        ):
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{svc.name} not ready:\n{svc.log_tail()}")
                    await asyncio.sleep(0.25)

    async def launch(self, *, move_when_taken: bool = True, attempts: int = 3) -> None:
        """Start every service on its port and wait until all are ready. A service whose
        port something else bound first (it exits: address already in use) moves to a
        fresh free port, up to ``attempts`` times, unless ``move_when_taken`` is off."""
        for svc in self.services.values():
            svc.start()
        for attempt in range(1, attempts + 1):
            try:
                await self.wait_ready()
                return
            except ServiceExited as exited:
                if not (exited.port_taken and move_when_taken) or attempt == attempts:
                    raise
                (exited.svc.port,) = free_ports(1)
                exited.svc.start()

    def restart(self, name: str) -> None:
        self.services[name].start()


class ServiceExited(RuntimeError):
    def __init__(self, svc: ServiceProcess) -> None:
        self.svc = svc
        self.port_taken = "address already in use" in svc.log_tail().lower()
        super().__init__(f"{svc.name} exited:\n{svc.log_tail()}")


async def answers_as(client: httpx.AsyncClient, svc: ServiceProcess) -> bool:
    """Whether the process on ``svc``'s port is that service (its OpenAPI title)."""
    response = await client.get(f"{svc.url}/openapi.json")
    return response.status_code == 200 and response.json()["info"]["title"] == (
        f"supportops {svc.name}"
    )


async def prepared_service(name: str, env_prefix: str, common: dict[str, str]) -> ServiceProcess:
    """``name`` on a fresh migrated database, not started and with no port yet."""
    database = unique_name(f"it_{name.split('-')[0]}")
    url = await create_database(database)
    env = {**common, f"{env_prefix}DATABASE_URL": url}
    migrate = await asyncio.to_thread(
        subprocess.run,
        [str(Path(sys.executable).parent / name), "migrate"],
        env=env,
        capture_output=True,
        text=True,
    )
    if migrate.returncode != 0:
        raise RuntimeError(f"{name} migrate failed:\n{migrate.stderr}")
    return ServiceProcess(name=name, prefix=env_prefix, port=0, database=database, env=env)


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
    for name, env_prefix in SERVICES:
        stack.services[name] = await prepared_service(name, env_prefix, common)
    # the ports are chosen together, just before the services bind them
    ports = (
        free_ports(len(SERVICES))
        if base_port is None
        else [base_port + offset for offset in range(len(SERVICES))]
    )
    for svc, port in zip(stack.services.values(), ports, strict=True):
        svc.port = port
    await stack.launch(move_when_taken=base_port is None)
    return stack


async def stop_stack(stack: Stack) -> None:
    for svc in stack.services.values():
        svc.stop()
    for svc in stack.services.values():
        await drop_database(svc.database)
