"""JWT bearer auth: roles, tenant confinement and typed FastAPI dependencies."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from servicekit.errors import Forbidden, NotFound, Unauthorized


class Role(StrEnum):
    agent = "agent"
    billing = "billing"
    onboarding = "onboarding"
    qa = "qa"
    admin = "admin"
    service = "service"


@dataclass(frozen=True)
class Principal:
    """Who is calling: subject, roles, and the tenant they are confined to (if any)."""

    subject: str
    roles: frozenset[Role]
    tenant_id: str | None = None
    email: str | None = None
    name: str | None = None
    # read-only (``frozen_claims``): a remembered principal serves every request with its
    # token, so no request may change what the next one sees
    claims: Mapping[str, Any] = field(
        default_factory=lambda: MappingProxyType({}), compare=False, hash=False
    )

    def has_any(self, roles: Iterable[Role]) -> bool:
        return Role.admin in self.roles or bool(self.roles & set(roles))

    @property
    def is_tenant_scoped(self) -> bool:
        return self.tenant_id is not None

    def can_see_tenant(self, tenant_id: str | None) -> bool:
        return self.tenant_id is None or (tenant_id is not None and self.tenant_id == tenant_id)

    def ensure_tenant(self, tenant_id: str | None, *, resource: str = "resource") -> None:
        """A tenant-scoped caller asking for another tenant's data gets a 404, not a 403,
        so the existence of other tenants' records is not revealed."""
        if not self.can_see_tenant(tenant_id):
            raise NotFound(f"{resource} not found")

    def tenant_filter(self, requested: str | None) -> str | None:
        """The tenant a list query must be confined to."""
        if self.tenant_id is None:
            return requested
        if requested is not None and requested != self.tenant_id:
            raise Forbidden("this token is confined to another tenant")
        return self.tenant_id


class TokenVerifier:
    """Verifies bearer tokens: HS256 with a shared secret, or RS256 from a JWKS URL.

    A verified token is remembered (a bounded LRU keyed by the token) until it expires,
    and for at most ``cache_seconds``: a console sends the same token with every request,
    and decoding it again (base64, JSON, HMAC or RSA) was a tenth of a ticket page's CPU.
    The bound on the age keeps a signing key withdrawn from the JWKS from being trusted
    for long by tokens it signed; invalid tokens are never remembered."""

    def __init__(
        self,
        *,
        secret: str | None,
        jwks_url: str | None = None,
        issuer: str | None = None,
        audience: str | None = None,
        leeway_seconds: int = 30,
        cache_size: int = 1024,
        cache_seconds: float = 60.0,
    ) -> None:
        self.secret = secret
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway_seconds
        self.cache_size = cache_size
        self.cache_seconds = cache_seconds
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True) if jwks_url else None
        self._verified: OrderedDict[str, tuple[float, Principal]] = OrderedDict()

    async def verify(self, token: str) -> Principal:
        now = time.time()
        cached = self._verified.get(token)
        if cached is not None:
            valid_until, principal = cached
            if now < valid_until:
                self._verified.move_to_end(token)
                return principal
            del self._verified[token]  # expired: decoding it again says so (401)
        principal = await self._decode(token)
        if self.cache_size > 0:
            # PyJWT accepts a token while now < exp + leeway; so does the cache
            expires = float(principal.claims["exp"]) + self.leeway
            self._verified[token] = (min(expires, now + self.cache_seconds), principal)
            if len(self._verified) > self.cache_size:
                self._verified.popitem(last=False)
        return principal

    async def _decode(self, token: str) -> Principal:
        try:
            if self._jwks is not None:
                signing_key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
                key: Any = signing_key.key
                algorithms = ["RS256"]
            else:
                key = self.secret
                algorithms = ["HS256"]
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                issuer=self.issuer,
                audience=self.audience,
                leeway=self.leeway,
                options={
                    "require": ["sub", "exp"],
                    "verify_aud": self.audience is not None,
                },
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("the token has expired", code="token-expired") from exc
        except jwt.InvalidSignatureError as exc:
            raise Unauthorized("the token signature is invalid", code="invalid-token") from exc
        except (jwt.InvalidTokenError, jwt.PyJWKClientError) as exc:
            raise Unauthorized(f"the token is invalid: {exc}", code="invalid-token") from exc
        return principal_from_claims(claims)


def frozen_claims(value: Any) -> Any:
    """The token's claims, read-only all the way down: mappings as ``MappingProxyType``,
    lists as tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: frozen_claims(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(frozen_claims(v) for v in value)
    return value


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    raw_roles = claims.get("roles", [])
    if isinstance(raw_roles, str):
        raw_roles = [raw_roles]
    roles = set()
    for raw in raw_roles:
        try:
            roles.add(Role(raw))
        except ValueError:
            continue  # roles of other systems are ignored, never an error
    tenant = claims.get("tenant_id")
    return Principal(
        subject=str(claims["sub"]),
        roles=frozenset(roles),
        tenant_id=str(tenant) if tenant else None,
        email=claims.get("email"),
        name=claims.get("name"),
        claims=frozen_claims(claims),
    )


def mint_token(
    *,
    secret: str,
    roles: Iterable[str],
    subject: str | None = None,
    tenant_id: str | None = None,
    ttl_seconds: int = 12 * 3600,
    issuer: str | None = None,
    audience: str | None = None,
    email: str | None = None,
    name: str | None = None,
    now: float | None = None,
) -> str:
    """A development HS256 token (``make token``); tests use it too."""
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "sub": subject or f"dev-{uuid.uuid4().hex[:8]}",
        "roles": list(roles),
        "iat": issued,
        "exp": issued + ttl_seconds,
    }
    if tenant_id:
        claims["tenant_id"] = tenant_id
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    if email:
        claims["email"] = email
    if name:
        claims["name"] = name
    return jwt.encode(claims, secret, algorithm="HS256")


_bearer = HTTPBearer(auto_error=False)


BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
"""The ``Authorization: Bearer`` credentials; as a dependency it is also what documents
the ``HTTPBearer`` security scheme of an operation in OpenAPI."""


async def authenticate(
    request: Request, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    """The caller of ``request`` (401 without a valid bearer token), also kept in
    ``request.state.principal``; shared by ``current_principal`` and
    ``servicekit.guard``."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("a bearer token is required")
    verifier: TokenVerifier = request.app.state.token_verifier
    principal = await verifier.verify(credentials.credentials)
    request.state.principal = principal
    return principal


async def current_principal(request: Request, credentials: BearerCredentials) -> Principal:
    return await authenticate(request, credentials)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def check_roles(principal: Principal, wanted: frozenset[Role]) -> None:
    """403 ``insufficient-role`` unless the caller holds one of ``wanted`` (or admin)."""
    if not principal.has_any(wanted):
        needed = ", ".join(sorted(r.value for r in wanted))
        raise Forbidden(
            f"this action needs one of the roles: {needed}",
            code="insufficient-role",
            required_roles=sorted(r.value for r in wanted),
        )


def require_roles(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting callers with any of ``roles`` (admin always passes)."""
    wanted = frozenset(roles)

    async def dependency(principal: CurrentPrincipal) -> Principal:
        check_roles(principal, wanted)
        return principal

    return dependency
