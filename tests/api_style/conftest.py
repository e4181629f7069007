"""Fixtures of the API-style suite: the four services' apps, built the way each service
builds itself (``create_app``) with test or production settings."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
