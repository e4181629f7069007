"""ETag / ``If-Match``: the one precondition rule of every service (docs/api-style.md).

We issue strong ETags only: ``"N"`` where N is the resource's version. ``If-Match`` is
parsed once, by the ``IfMatchHeader`` dependency:

- missing: the endpoint decides. ``require(version)`` answers 428 ``if-match-required``;
  ``check(version)`` lets the update through (optional precondition).
- a list of ETags: matches when one names the current version; ``*`` matches any
  existing resource.
- ``W/"N"`` is accepted like ``"N"``: we never issue weak ETags, but a proxy or CDN may
  weaken ours on the way back, and the version they name is the same.
- a bare number, garbage or an over-long value: 400 ``malformed-if-match`` with
  ``field: "If-Match"`` (it is not an ETag this API returned).
- no candidate names the current version: 412 ``etag-mismatch`` with ``current_etag``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header

from servicekit.errors import BadRequest, PreconditionFailed, PreconditionRequired

MAX_IF_MATCH_LENGTH = 512
_CANDIDATE = re.compile(r'^(?:W/)?"([0-9]{1,18})"$')


def etag(version: int) -> str:
    """The strong ETag of a resource at ``version``."""
    return f'"{version}"'


@dataclass(frozen=True)
class IfMatch:
    """A parsed ``If-Match`` header (``present`` is False when the request had none)."""

    present: bool = False
    any: bool = False
    versions: frozenset[int] = frozenset()

    def matches(self, version: int) -> bool:
        return self.any or version in self.versions

    def require_present(self) -> None:
        """428 ``if-match-required`` without ``If-Match`` (to refuse early, before the
        resource is read; ``require`` does this too)."""
        if not self.present:
            raise PreconditionRequired(
                "this update needs an If-Match header with the ETag you last read",
                code="if-match-required",
                field="If-Match",
            )

    def require(self, version: int) -> None:
        """428 without ``If-Match``; 412 when it names another version."""
        self.require_present()
        self.check(version)

    def check(self, version: int) -> None:
        """412 when ``If-Match`` is present and names another version; no header passes."""
        if self.present and not self.matches(version):
            raise PreconditionFailed(
                "the resource changed since you read it; read it again and retry",
                code="etag-mismatch",
                current_etag=etag(version),
            )


def parse_if_match(value: str | None) -> IfMatch:
    """Parse the header value; 400 ``malformed-if-match`` when it is not a list of our
    ETags (or ``*``)."""
    if value is None:
        return IfMatch()
    if len(value) > MAX_IF_MATCH_LENGTH:
        raise _malformed(f"If-Match is longer than {MAX_IF_MATCH_LENGTH} characters")
    stripped = value.strip()
    if stripped == "*":
        return IfMatch(present=True, any=True)
    versions: set[int] = set()
    for candidate in stripped.split(","):
        match = _CANDIDATE.match(candidate.strip())
        if match is None:
            raise _malformed('If-Match must be ETags returned by this API, such as "3", or *')
        versions.add(int(match.group(1)))
    return IfMatch(present=True, versions=frozenset(versions))


def _malformed(detail: str) -> BadRequest:
    return BadRequest(detail, code="malformed-if-match", field="If-Match")


def check_if_match(value: str | None, version: int, *, required: bool = True) -> None:
    """Parse and check in one call, for code that holds the raw header string."""
    parsed = parse_if_match(value)
    if required:
        parsed.require(version)
    else:
        parsed.check(version)


async def get_if_match(
    if_match: Annotated[
        str | None,
        Header(
            alias="If-Match",
            description='The ETag of the resource as last read (`"3"`; `W/"3"` and `*` '
            "accepted). 428 when the update requires it and it is missing, 412 when the "
            "resource changed since, 400 when it is not an ETag.",
        ),
    ] = None,
) -> IfMatch:
    return parse_if_match(if_match)


IfMatchHeader = Annotated[IfMatch, Depends(get_if_match)]
"""The parsed ``If-Match`` of the request; call ``.require(version)`` or ``.check(version)``."""

PRECONDITION_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "If-Match is not an ETag (`malformed-if-match`)"},
    412: {"description": "The resource changed since it was read (`etag-mismatch`)"},
    428: {"description": "If-Match is missing (`if-match-required`)"},
}
"""``responses=`` for routes taking ``IfMatchHeader``: the precondition outcomes."""
