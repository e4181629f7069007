"""Helpers shared by the onboarding-service tests (a unique module name on purpose)."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from servicekit.testing import auth

OPERATOR = auth("onboarding")
IDENTITY = auth("service")


class KnownCodes:
    """The app's one-time code generator in tests: the codes it issues are known here
    (and only here; no API returns them). A queued code is issued next."""

    def __init__(self) -> None:
        self.queued: list[str] = []
        self.issued: list[str] = []

    def __call__(self) -> str:
        code = self.queued.pop(0) if self.queued else f"{secrets.randbelow(10**6):06d}"
        self.issued.append(code)
        return code


def tenant_body(**overrides: Any) -> dict[str, Any]:
    slug = uuid.uuid4().hex[:10]
    body: dict[str, Any] = {
        "company_name": f"Acme {slug}",
        "domains": [f"acme-{slug}.com"],
        "plan_code": "team-monthly",
        "seats": 5,
        "billing": {
            "collection_method": "charge_automatically",
            "billing_email": f"billing@acme-{slug}.com",
        },
        "configuration": {"locale": "en-US", "timezone": "Europe/Berlin"},
        "admin": {"email": f"admin@acme-{slug}.com", "name": "Ada Admin"},
    }
    body.update(overrides)
    return body
