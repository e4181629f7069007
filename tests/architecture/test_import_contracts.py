"""The root ``.importlinter`` contracts hold today and each one fails on a deliberate
violation: the packages are copied to a temporary directory (shadowing the installed
ones through ``PYTHONPATH``), one violating import is added, and ``lint-imports`` must
exit non-zero naming the contract."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / ".importlinter"
PACKAGES = {
    "supportops_events": ROOT / "libs/events/src/supportops_events",
    "servicekit": ROOT / "libs/servicekit/src/servicekit",
    "ticket_service": ROOT / "services/ticket-service/src/ticket_service",
    "billing_service": ROOT / "services/billing-service/src/billing_service",
    "onboarding_service": ROOT / "services/onboarding-service/src/onboarding_service",
    "escalation_service": ROOT / "services/escalation-service/src/escalation_service",
}
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(
    cwd: Path, *contract_ids: str, pythonpath: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    only = [arg for c in contract_ids for arg in ("--contract", c)]
    return subprocess.run(
        [str(LINT_IMPORTS), str(cwd / ".importlinter"), "--no-cache", *only],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("arch")
    for name, src in PACKAGES.items():
        shutil.copytree(src, base / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(CONFIG, base / ".importlinter")
    return base


def test_the_repository_keeps_every_root_contract() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "violation", "contract_id", "contract"),
    [
        (
            "billing_service/deps.py",
            "import ticket_service.models",
            "services-independent",
            "The four services are independent of each other",
        ),
        (
            "supportops_events/base.py",
            "import fastapi",
            "events-pure",
            "The event catalog imports nothing of ours and no framework",
        ),
        (
            "supportops_events/envelope.py",
            "import servicekit.errors",
            "events-pure",
            "The event catalog imports nothing of ours and no framework",
        ),
        (
            "servicekit/errors.py",
            "import onboarding_service.deps",
            "kit-imports-no-service",
            "The kit imports no service",
        ),
    ],
)
def test_each_contract_fails_on_a_deliberate_violation(
    pristine: Path, tmp_path: Path, module: str, violation: str, contract_id: str, contract: str
) -> None:
    work = tmp_path / "repo"
    shutil.copytree(pristine, work)
    target = work / module
    target.write_text(target.read_text() + f"\n{violation}  # deliberate violation\n")
    # the pristine copy keeps the contract (so the copy, not the repository, is checked)
    assert lint_imports(pristine, contract_id, pythonpath=pristine).returncode == 0
    result = lint_imports(work, contract_id, pythonpath=work)
    assert result.returncode != 0, result.stdout
    assert f"{contract} BROKEN" in result.stdout, result.stdout
    assert "0 kept, 1 broken" in result.stdout
