"""The committed per-service manifests and Dockerfiles are what generate.py writes."""

from __future__ import annotations

from types import ModuleType

import pytest
from k8s_support import K8S_DIR, REPO_ROOT, load_module


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    return load_module("supportops_k8s_generate", K8S_DIR / "generate.py")


def test_committed_output_is_fresh(generator: ModuleType) -> None:
    stale = [str(p.relative_to(REPO_ROOT)) for p in generator.stale(generator.outputs())]
    assert stale == [], "run: uv run python deploy/k8s/generate.py"


def test_check_mode_reports_a_hand_edit(generator: ModuleType) -> None:
    files = generator.outputs()
    edited = K8S_DIR / "base" / "ticket-service" / "worker.yaml"
    files[edited] = files[edited].replace("terminationGracePeriodSeconds: 60", "x: 1")
    assert generator.stale(files) == [edited]


def test_every_generated_service_is_in_the_base(generator: ModuleType) -> None:
    base = (K8S_DIR / "base" / "kustomization.yaml").read_text(encoding="utf-8")
    for service in generator.SERVICES:
        assert f"  - {service.name}\n" in base
        assert f"name: {service.image}\n" in base
