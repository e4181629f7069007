"""A tiny typed hook: a lower feature announces something, a higher one reacts.

A feature that must trigger work of a feature above it (a solved ticket sends the CSAT
survey, but csat replies through tickets) would import upwards and close a cycle. It
declares a ``Hook`` instead; the higher feature's handler is added at app start
(``ticket_service.main.register_hooks``). Handlers run in the caller's transaction, in
the order they were added, so what they write commits or rolls back with the change.

Modelled on polar's ``kit/hook.py``; generic, so it could move to ``servicekit``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Hook(Generic[T]):
    """Handlers of one kind of occurrence; ``T`` is what they are handed."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._handlers: list[Callable[[T], Awaitable[None]]] = []

    def add(self, handler: Callable[[T], Awaitable[None]]) -> None:
        """Add ``handler``; adding the same one again is a no-op (an app is created
        several times in one process in tests, and each start registers its hooks)."""
        if handler not in self._handlers:
            self._handlers.append(handler)

    def remove(self, handler: Callable[[T], Awaitable[None]]) -> None:
        if handler in self._handlers:
            self._handlers.remove(handler)

    @property
    def handlers(self) -> tuple[Callable[[T], Awaitable[None]], ...]:
        return tuple(self._handlers)

    async def call(self, payload: T) -> None:
        for handler in self._handlers:
            await handler(payload)
