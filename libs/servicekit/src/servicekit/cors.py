"""CORS for browser consoles: Starlette's ``CORSMiddleware``, configured once for every
service from ``SUPPORTOPS_CORS_ORIGINS`` (docs/api-style.md, "CORS")."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

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


def install_cors(app: FastAPI, origins: Sequence[str]) -> None:
    """Add the CORS layer, unless no origin is allowed (then a browser on another origin
    gets no ``Access-Control-*`` header at all, and its preflights fail).

    Call it after every other ``add_middleware``: the last one added is the outermost,
    so a preflight is answered here before the kit's 405 rule or the auth dependencies
    (a preflight carries no token) see it."""
    if not origins:
        return
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(origins),
        allow_methods=list(ALLOWED_METHODS),
        allow_headers=list(ALLOWED_HEADERS),
        expose_headers=list(EXPOSED_HEADERS),
        # bearer tokens travel in a header, never cookies: no credentialed requests,
        # which also keeps ``*`` usable as an origin list
        allow_credentials=False,
        max_age=PREFLIGHT_MAX_AGE_SECONDS,
    )
