"""Stripe's timestamps (Unix seconds) as aware datetimes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def ts(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value is not None else None
