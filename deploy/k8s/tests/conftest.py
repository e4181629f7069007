"""Fixtures for the Kubernetes manifest tests: the pinned kustomize and the built overlays."""

from __future__ import annotations

import sys
from pathlib import Path

# The helper modules sit next to the tests; pytest runs with --import-mode=importlib,
# which does not put this directory on sys.path by itself.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pytest
from k8s_support import K8S_DIR, OVERLAYS, Doc, ensure_kustomize, kustomize_build


@pytest.fixture(scope="session")
def kustomize() -> Path:
    """kustomize from .local/bin; installed by deploy/k8s/tools.sh on a fresh clone."""
    return ensure_kustomize()


@pytest.fixture(scope="session")
def built(kustomize: Path) -> dict[str, list[Doc]]:
    """`kustomize build` of every overlay, parsed. Treat as read-only; copy to mutate."""
    return {
        overlay: kustomize_build(kustomize, K8S_DIR / "overlays" / overlay) for overlay in OVERLAYS
    }
