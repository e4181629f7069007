"""A FastAPI app with the kit's problem handlers and token verifier, no database: for the
tests of the request-level pieces (ETag, roles, clock, 409 transitions)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from servicekit.auth import TokenVerifier
from servicekit.errors import install_problem_handlers
from servicekit.settings import DEV_JWT_SECRET


def plain_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.state.token_verifier = TokenVerifier(secret=DEV_JWT_SECRET)
    return app


def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
