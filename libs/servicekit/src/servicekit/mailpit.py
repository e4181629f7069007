"""A test client of Mailpit's REST API: read the mail the services really sent.

Tests use the Mailpit of ``deploy/local/mailpit.sh`` (``SUPPORTOPS_MAILPIT_UI_PORT``,
``servicekit.localstack``) and isolate themselves by unique recipient addresses, so
parallel runs can share one Mailpit (nothing is ever deleted).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any, cast

import httpx

from servicekit.localstack import default_mailpit_api
from servicekit.testing import eventually


def unique_address(prefix: str = "customer", domain: str = "example.test") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}@{domain}"


@dataclass
class Received:
    """One mail as Mailpit stored it: its summary and the parsed raw message."""

    id: str
    summary: dict[str, Any]
    message: EmailMessage = field(repr=False)

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    def header(self, name: str) -> str | None:
        value = self.message[name]
        return None if value is None else str(value)

    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        # lines end in CRLF on the wire; the test compares what a reader sees
        return "" if part is None else cast(EmailMessage, part).get_content().replace("\r\n", "\n")

    def html(self) -> str | None:
        part = self.message.get_body(preferencelist=("html",))
        if part is None:
            return None
        return str(cast(EmailMessage, part).get_content()).replace("\r\n", "\n")


class Mailpit:
    def __init__(self, base: str | None = None) -> None:
        self.base = (base or default_mailpit_api()).rstrip("/")

    async def to(self, address: str) -> list[Received]:
        """Every mail to ``address``, oldest first."""
        async with httpx.AsyncClient(base_url=self.base, timeout=10.0) as client:
            found = await client.get("/api/v1/search", params={"query": f'to:"{address}"'})
            found.raise_for_status()
            out = []
            for summary in reversed(found.json().get("messages") or []):
                raw = await client.get(f"/api/v1/message/{summary['ID']}/raw")
                raw.raise_for_status()
                parsed = BytesParser(policy=policy.default).parsebytes(raw.content)
                out.append(Received(summary["ID"], summary, parsed))
            return out

    async def wait_for(
        self, address: str, *, count: int = 1, timeout: float = 15.0
    ) -> list[Received]:
        """The mails to ``address`` once there are at least ``count`` of them."""
        got: list[Received] = []

        async def arrived() -> None:
            nonlocal got
            got = await self.to(address)
            assert len(got) >= count, f"{len(got)} of {count} mails to {address} so far"

        await eventually(arrived, timeout=timeout)
        return got
