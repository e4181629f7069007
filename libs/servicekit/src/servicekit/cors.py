"""CORS for browser consoles: Starlette's ``CORSMiddleware``, configured once for every
service from ``SUPPORTOPS_CORS_ORIGINS`` (docs/api-style.md, "CORS")."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

ALLOWED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
ALLOWED_HEADERS = (
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
    "If-Match",
    "Last-Event-ID",
    "X-Correlation-Id",
)
"""The request headers the API reads (``Last-Event-ID``: a ``fetch``-based event stream
sends it itself when resuming)."""
EXPOSED_HEADERS = (
    "ETag",
    "Location",
    "Idempotent-Replayed",
    "Retry-After",
    "X-Correlation-Id",
)
"""Response headers a script may read: without this list a browser hides all but the
CORS-safelisted ones (``ETag`` for ``If-Match``, ``Location`` after a create...)."""
PREFLIGHT_MAX_AGE_SECONDS = 600


def cors_layer(app: ASGIApp, origins: Sequence[str]) -> ASGIApp | None:
    """Starlette's CORS middleware around ``app``, or ``None`` when no origin is allowed
    (then a browser on another origin gets no ``Access-Control-*`` header at all, and
    its preflights fail).

    The kit's middleware (``servicekit.middleware``) sends only requests that carry an
    ``Origin`` through it, ahead of everything else it does, so a preflight is answered
    before the kit's 405 rule or the auth dependencies (a preflight carries no token)
    see it; a request without ``Origin`` gets the ``Vary: Origin`` this layer would add
    from the kit's middleware instead."""
    if not origins:
        return None
    return CORSMiddleware(
        app,
        allow_origins=list(origins),
        allow_methods=list(ALLOWED_METHODS),
        allow_headers=list(ALLOWED_HEADERS),
        expose_headers=list(EXPOSED_HEADERS),
        # bearer tokens travel in a header, never cookies: no credentialed requests,
        # which also keeps ``*`` usable as an origin list
        allow_credentials=False,
        max_age=PREFLIGHT_MAX_AGE_SECONDS,
    )
