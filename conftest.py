"""Session-wide hooks for every test tier (pytest collects this file for all testpaths)."""

from __future__ import annotations

import asyncio
import sys

import pytest

from servicekit.testing import delete_issued_topics


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Delete the Kafka topics this session created under its per-test prefixes. A broker
    that keeps them runs out of file descriptors after a few full runs ("Too many open
    files", then every log dir fails and the broker stops), as the shared development
    broker did. A broker that is down by now is not this hook's problem: it only warns."""
    try:
        deleted = asyncio.run(asyncio.wait_for(delete_issued_topics(), timeout=60))
    except Exception as exc:  # cleanup must never turn a run red
        sys.stderr.write(f"\nconftest: could not delete this session's test topics: {exc!r}\n")
        return
    if deleted:
        sys.stderr.write(f"\nconftest: deleted {deleted} test topics\n")
