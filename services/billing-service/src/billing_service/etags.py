"""ETag / If-Match on billing's updatable resources: 428 without If-Match, 412 when it
names another version, 400 when it is not an ETag at all (as the other services do)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header

from servicekit.errors import BadRequest, PreconditionFailed, PreconditionRequired

IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        max_length=200,
        description="The ETag of the resource as last read; required (428 without it, "
        "412 when the resource changed since)",
    ),
]

PRECONDITION_RESPONSES: dict[int | str, dict[str, str]] = {
    412: {"description": "The resource changed since it was read (stale ETag)"},
    428: {"description": "If-Match is missing"},
}


def etag(version: int) -> str:
    return f'"{version}"'


def check_if_match(if_match: str | None, version: int) -> None:
    if if_match is None:
        raise PreconditionRequired(
            "this update needs an If-Match header with the ETag you last read",
            code="if-match-required",
            field="If-Match",
        )
    candidates = [c.strip() for c in if_match.split(",")]
    if "*" in candidates:
        return
    for candidate in candidates:
        raw = candidate.removeprefix("W/").strip('"')
        if not raw.isdigit() or len(raw) > 9:
            raise BadRequest("If-Match must be an ETag returned by this API", field="If-Match")
        if int(raw) == version:
            return
    raise PreconditionFailed(
        "the resource changed since you read it; read it again and retry",
        code="etag-mismatch",
        current_etag=etag(version),
    )
