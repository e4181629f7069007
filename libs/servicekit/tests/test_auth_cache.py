"""Verified tokens are remembered per process (a console sends the same token with every
request), never past their expiry, never when invalid, and the memory stays bounded."""

from __future__ import annotations

import time

import pytest

from servicekit.auth import Principal, Role, TokenVerifier, mint_token
from servicekit.errors import Unauthorized
from servicekit.testing import eventually

SECRET = "a-test-secret-that-is-long-enough-for-hs256"


class CountingVerifier(TokenVerifier):
    """Counts the tokens it had to decode (signature checked) rather than remember."""

    decoded = 0

    async def _decode(self, token: str) -> Principal:
        self.decoded += 1
        return await super()._decode(token)


def token(*, ttl: int = 600, now: float | None = None, subject: str = "agent-1") -> str:
    return mint_token(secret=SECRET, roles=["agent"], subject=subject, ttl_seconds=ttl, now=now)


async def test_a_token_is_decoded_once_and_then_remembered() -> None:
    verifier = CountingVerifier(secret=SECRET)
    bearer = token()
    first = await verifier.verify(bearer)
    again = [await verifier.verify(bearer) for _ in range(5)]
    assert first.subject == "agent-1" and first.roles == frozenset({Role.agent})
    assert all(p == first for p in again)
    assert verifier.decoded == 1


async def test_a_remembered_token_is_refused_once_it_expires() -> None:
    leeway = 2
    verifier = CountingVerifier(secret=SECRET, leeway_seconds=leeway)
    # expired a moment ago, still inside the leeway: accepted for 0.5 to 1.5 s more
    # (``mint_token`` rounds its times down to whole seconds)
    bearer = token(ttl=60, now=time.time() - 60 - leeway + 1.5)
    assert (await verifier.verify(bearer)).subject == "agent-1"
    assert (await verifier.verify(bearer)).subject == "agent-1"

    async def refused() -> None:
        code = None
        try:
            await verifier.verify(bearer)
        except Unauthorized as refusal:
            code = refusal.code
        assert code == "token-expired", "a remembered token outlived its expiry"

    await eventually(refused, timeout=5.0, interval=0.05)


async def test_a_token_is_remembered_for_a_bounded_time_only() -> None:
    verifier = CountingVerifier(secret=SECRET, cache_seconds=0.0)
    bearer = token()
    await verifier.verify(bearer)
    await verifier.verify(bearer)
    assert verifier.decoded == 2


async def test_an_invalid_token_is_refused_every_time() -> None:
    verifier = CountingVerifier(secret=SECRET)
    forged = mint_token(secret="another-secret-that-is-long-enough-too", roles=["admin"])
    for _ in range(2):
        with pytest.raises(Unauthorized) as refused:
            await verifier.verify(forged)
        assert refused.value.code == "invalid-token"
    assert verifier.decoded == 2


async def test_the_memory_of_tokens_is_bounded() -> None:
    verifier = CountingVerifier(secret=SECRET, cache_size=2)
    a, b, c = (token(subject=f"agent-{n}") for n in range(3))
    for bearer in (a, b, a, c):  # c pushes out the least recently used: b
        await verifier.verify(bearer)
    assert verifier.decoded == 3
    await verifier.verify(a)
    await verifier.verify(c)
    assert verifier.decoded == 3
    assert (await verifier.verify(b)).subject == "agent-1"
    assert verifier.decoded == 4


async def test_a_remembered_principal_s_claims_cannot_be_changed_by_one_request() -> None:
    """The remembered principal is handed to every request with that token: its claims
    (nested lists included) are read-only, so no request can change what the next sees."""
    verifier = CountingVerifier(secret=SECRET)
    bearer = mint_token(
        secret=SECRET, roles=["agent"], subject="agent-1", tenant_id="ten-a", ttl_seconds=600
    )
    first = await verifier.verify(bearer)
    with pytest.raises(TypeError):
        first.claims["tenant_id"] = "ten-b"  # type: ignore[index]
    with pytest.raises((TypeError, AttributeError)):
        first.claims["roles"].append("admin")
    again = await verifier.verify(bearer)
    assert again is first and verifier.decoded == 1
    assert again.claims["tenant_id"] == "ten-a" and list(again.claims["roles"]) == ["agent"]
    assert again.tenant_id == "ten-a" and again.roles == frozenset({Role.agent})
