"""One clock for endpoints, consumers and schedules: ``Clock.now()`` injected, never called
directly, so tests move time with one ``servicekit.testing.TestClock``.

The app holds the clock in ``app.state.clock`` (``ServiceDefinition.clock`` sets it; a test
may replace it at any time). Endpoints take ``ClockDep``; consumer handlers get it as
``received.clock``. Both read ``app.state.clock`` at each call, so a test that swaps the
clock mid-run is seen everywhere.

Until every service has migrated, ``app.state.clock`` may still be a plain function
returning a datetime (billing's and ticket's old shape): ``clock_of`` adapts it, and the
kit's clocks are callable as well, so an old-shape caller keeps working with them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Protocol, runtime_checkable

from fastapi import Depends, Request


@runtime_checkable
class Clock(Protocol):
    """Anything with ``now() -> datetime`` (timezone-aware UTC); structurally the same as
    onboarding's and escalation's ``Clock``."""

    def now(self) -> datetime: ...


class SystemClock:
    """The wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def __call__(self) -> datetime:
        # the old function-shaped clocks (``clock()``) keep working with it
        return self.now()


class FunctionClock:
    """Adapts a ``() -> datetime`` function (the old clock shape) to ``Clock``."""

    def __init__(self, func: Callable[[], datetime]) -> None:
        self._func = func

    def now(self) -> datetime:
        return self._func()

    def __call__(self) -> datetime:
        return self._func()


def clock_of(value: Any) -> Clock:
    """``value`` as a ``Clock``: itself if it has ``now()``, a function wrapped, ``None`` →
    the system clock."""
    if value is None:
        return SystemClock()
    if isinstance(value, Clock):
        return value
    if callable(value):
        return FunctionClock(value)
    raise TypeError(f"not a clock: {value!r}")


class StateClock:
    """The clock in ``state.clock`` read at every ``now()``: a test replacing it is seen."""

    def __init__(self, state: Any) -> None:
        self._state = state

    def now(self) -> datetime:
        return clock_of(getattr(self._state, "clock", None)).now()

    def __call__(self) -> datetime:
        return self.now()


async def get_clock(request: Request) -> Clock:
    """The app's clock (``app.state.clock``; the system clock when none is set)."""
    return clock_of(getattr(request.app.state, "clock", None))


ClockDep = Annotated[Clock, Depends(get_clock)]
