from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from stack import Stack, start_stack, stop_stack


@pytest.fixture(scope="session")
async def stack() -> AsyncIterator[Stack]:
    running = await start_stack()
    try:
        yield running
    finally:
        await stop_stack(running)
