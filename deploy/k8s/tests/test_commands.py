"""Every command a pod runs is one the service's CLI has: a renamed scan would otherwise
fail only when its CronJob first fires."""

from __future__ import annotations

import re

import pytest
from k8s_policy import Doc, workloads
from k8s_support import CONTRACT, OVERLAYS, REPO_ROOT

BUILT_IN = {"serve", "migrate", "create-topics", "token"}  # servicekit.cli.ServiceCli
# A service's own commands: the keys of `commands={"name": (help, fn), ...}` in its cli.py.
COMMAND = re.compile(r"^\s*\"([a-z][a-z0-9-]*)\":\s*\(", re.MULTILINE)


def cli_commands(service: str) -> set[str]:
    package = service.replace("-", "_")
    cli = REPO_ROOT / "services" / service / "src" / package / "cli.py"
    return BUILT_IN | set(COMMAND.findall(cli.read_text(encoding="utf-8")))


def commands_run(docs: list[Doc], service: str) -> set[str]:
    return {
        container["args"][0]
        for workload in workloads(docs)
        if workload.service == service
        for container in workload.containers(init=False)
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", sorted(CONTRACT))
def test_pods_run_commands_the_cli_has(
    built: dict[str, list[Doc]], overlay: str, service: str
) -> None:
    run = commands_run(built[overlay], service)
    assert {"serve", "migrate"} <= run
    assert run - cli_commands(service) == set()


def test_command_scan_reads_a_real_cli() -> None:
    assert {"renewal-scan", "reconcile-stripe"} <= cli_commands("billing-service")
    assert "sla-scan" not in cli_commands("billing-service")
