"""Fixtures of the performance guards: the repository root on the import path, so the
benchmarks package (``benchmarks.scale``) is importable as ``make bench`` runs it."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
