"""ETag / If-Match on versioned resources: 428 without If-Match, 412 on a stale one."""

from __future__ import annotations

from servicekit.errors import PreconditionFailed, PreconditionRequired


def etag(version: int) -> str:
    return f'"{version}"'


def check_if_match(if_match: str | None, version: int) -> None:
    if if_match is None:
        raise PreconditionRequired(
            "this update needs an If-Match header with the resource's ETag",
            code="if-match-required",
        )
    candidates = {c.strip().removeprefix("W/") for c in if_match.split(",")}
    if "*" in candidates or etag(version) in candidates:
        return
    raise PreconditionFailed(
        "the resource changed since it was read; read it again and retry",
        code="etag-mismatch",
        current_etag=etag(version),
    )
