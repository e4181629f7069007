"""The onboarding-service's own import contracts (``services/onboarding-service/.importlinter``)
hold today, and each fails on a deliberate violation: the package is copied to a temporary
directory (shadowing the installed one through ``PYTHONPATH``), one violating import is
added, and ``lint-imports`` must exit non-zero naming the broken contract."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SERVICE = Path(__file__).resolve().parents[1]
CONFIG = SERVICE / ".importlinter"
PACKAGE = SERVICE / "src" / "onboarding_service"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

LAYERS = "onboarding-service: inside each feature, endpoints and consumers -> service -> repository"
NO_CYCLES = "onboarding-service: no import cycles between sibling packages or modules, at any depth"
ORDER = "onboarding-service: the features build on each other in one direction"


def lint_imports(config: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    env["COLUMNS"] = "400"  # one line per contract name, whatever the terminal
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(config), "--no-cache"],
        cwd=config.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_service_keeps_its_contracts() -> None:
    result = lint_imports(CONFIG)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "violation", "broken"),
    [
        # a repository reaching up into its own feature's service (every upper layer
        # imports the lower ones, so that is a cycle as well)
        (
            "users/repository.py",
            "from onboarding_service.users import service",
            {LAYERS, NO_CYCLES},
        ),
        # a service reaching up into its feature's event handlers
        (
            "billing/service.py",
            "from onboarding_service.billing import consumers",
            {LAYERS, NO_CYCLES},
        ),
        # two modules of one feature importing each other, no layer involved
        ("users/status.py", "from onboarding_service.users import events", {NO_CYCLES}),
        # a feature importing a sibling of its own level: no cycle, but not the order
        ("access/service.py", "from onboarding_service.provisioning import service", {ORDER}),
        # the old loop: the tenant record depending on users, which depend on it
        (
            "tenants/repository.py",
            "from onboarding_service.users import service",
            {NO_CYCLES, ORDER},
        ),
    ],
)
def test_each_contract_fails_on_a_violation(
    tmp_path: Path, module: str, violation: str, broken: set[str]
) -> None:
    shutil.copytree(
        PACKAGE, tmp_path / "onboarding_service", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(CONFIG, tmp_path / ".importlinter")
    target = tmp_path / "onboarding_service" / module
    target.write_text(target.read_text() + f"\n{violation}  # noqa: E402, F401\n")

    result = lint_imports(tmp_path / ".importlinter", pythonpath=tmp_path)

    assert result.returncode != 0, result.stdout
    kept = {name for name in (LAYERS, NO_CYCLES, ORDER) if f"{name} KEPT" in result.stdout}
    assert kept == {LAYERS, NO_CYCLES, ORDER} - broken, result.stdout
    assert f"{len(broken)} broken" in result.stdout
