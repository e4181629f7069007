"""RFC 9457 problem details: domain errors carry their status; one handler renders them."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from servicekit.infra_errors import describe as describe_infra
from servicekit.infra_errors import is_infrastructure_error

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://supportops.dev/problems/"

logger = logging.getLogger("servicekit.errors")


class ProblemError(Exception):
    """A domain error that becomes a problem+json response.

    ``code`` is the stable machine name; the problem ``type`` URI is derived from it.
    ``extras`` become extension members of the problem object.
    """

    status: int = 400
    code: str = "bad-request"
    title: str = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        title: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        **extras: Any,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        if code is not None:
            self.code = code
        if title is not None:
            self.title = title
        if status is not None:
            self.status = status
        self.headers = headers or {}
        self.extras = extras

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        return problem_body(
            status=self.status,
            code=self.code,
            title=self.title,
            detail=self.detail,
            instance=instance,
            **self.extras,
        )


class BadRequest(ProblemError):
    status, code, title = 400, "bad-request", "Bad request"


class Unauthorized(ProblemError):
    status, code, title = 401, "unauthorized", "Authentication required"

    def __init__(self, detail: str | None = None, **extras: Any) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"}, **extras)


class Forbidden(ProblemError):
    status, code, title = 403, "forbidden", "Forbidden"


class NotFound(ProblemError):
    status, code, title = 404, "not-found", "Not found"


class Conflict(ProblemError):
    status, code, title = 409, "conflict", "Conflict"


class InvalidTransition(Conflict):
    """409 ``invalid-transition``: the one body for "this state cannot move there".

    ``InvalidTransition("ticket", current="solved", requested="open", allowed=["closed"])``
    → ``current_status``, ``requested_status`` and ``allowed`` (a list, possibly empty).
    The older ``InvalidTransition("free text")`` form (detail only) still works while
    the services migrate.
    """

    code, title = "invalid-transition", "Transition not allowed"

    def __init__(
        self,
        resource_or_detail: str | None = None,
        current: str | None = None,
        requested: str | None = None,
        *,
        allowed: Iterable[str] | None = None,
        detail: str | None = None,
        **extras: Any,
    ) -> None:
        if current is None and requested is None:
            if allowed is not None:  # the older form's own extension, passed on as given
                extras["allowed"] = allowed
            super().__init__(resource_or_detail if detail is None else detail, **extras)
            return
        resource = resource_or_detail or "resource"
        allowed_list = sorted(allowed or ())
        if detail is None:
            detail = f"a {resource} in status {current!r} cannot move to {requested!r}"
            if allowed_list:
                detail += f" (allowed: {', '.join(allowed_list)})"
        super().__init__(
            detail,
            current_status=current,
            requested_status=requested,
            allowed=allowed_list,
            **extras,
        )


class PreconditionFailed(ProblemError):
    status, code, title = 412, "precondition-failed", "Precondition failed"


class PreconditionRequired(ProblemError):
    status, code, title = 428, "precondition-required", "Precondition required"


class Unprocessable(ProblemError):
    status, code, title = 422, "validation-error", "Invalid input"


class ServiceUnavailable(ProblemError):
    status, code, title = 503, "unavailable", "Service unavailable"


def problem_body(
    *,
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    instance: str | None = None,
    **extras: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {"type": PROBLEM_BASE + code, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    body.update(extras)
    return body


def problem_response(body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        body, status_code=int(body["status"]), media_type=PROBLEM_JSON, headers=headers
    )


_STATUS_CODES = {
    400: ("bad-request", "Bad request"),
    401: ("unauthorized", "Authentication required"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    406: ("not-acceptable", "Not acceptable"),
    409: ("conflict", "Conflict"),
    412: ("precondition-failed", "Precondition failed"),
    413: ("payload-too-large", "Payload too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    422: ("validation-error", "Invalid input"),
    429: ("too-many-requests", "Too many requests"),
}


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        where, rest = parts[0], parts[1:]
        return ".".join(rest) if rest else where
    return ".".join(parts)


def validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for err in exc.errors():
        loc = list(err.get("loc", ()))
        errors.append(
            {
                "field": _field_path(loc),
                "in": str(loc[0]) if loc else "body",
                "message": str(err.get("msg", "invalid")),
                "code": str(err.get("type", "invalid")),
            }
        )
    return errors


RETRY_AFTER_SECONDS = 5


def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    """The database (or broker) is away: nothing is wrong with the request, so a 503 a
    client may retry, as ``/readyz`` says, never a 500."""
    logger.warning(
        "infrastructure unavailable on %s %s: %s",
        request.method,
        request.url.path,
        describe_infra(exc),
    )
    return problem_response(
        problem_body(
            status=503,
            code="unavailable",
            title="Service unavailable",
            detail="A backing service is temporarily unavailable; retry later.",
            instance=request.url.path,
        ),
        {"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def malformed_json(request: Request, detail: str, **extras: Any) -> JSONResponse:
    """400 ``malformed-json``: the body is not JSON (a syntax error, bytes that are not
    UTF-8). A body of the wrong shape is still a 422 naming its fields."""
    return problem_response(
        problem_body(
            status=400,
            code="malformed-json",
            title="Malformed JSON",
            detail=detail,
            instance=request.url.path,
            **{k: v for k, v in extras.items() if v is not None},
        )
    )


class SendResponse(Exception):
    """Stop the endpoint and send ``response`` as it is (an idempotent replay, for one):
    the endpoint's declared return type stays the model it returns otherwise."""

    def __init__(self, response: Response) -> None:
        super().__init__("send the response as is")
        self.response = response


async def unhandled_problem(request: Request, exc: Exception) -> JSONResponse:
    """An exception no handler took: a 503 when PostgreSQL or Kafka is away (nothing is
    wrong with the request), otherwise a logged 500 that shows no stack trace."""
    if is_infrastructure_error(exc):
        return _unavailable(request, exc)
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(
        problem_body(
            status=500,
            code="internal-error",
            title="Internal server error",
            detail="An unexpected error occurred; it has been logged.",
            instance=request.url.path,
        )
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Every error leaves the service as problem+json; no stack trace ever does."""

    @app.exception_handler(SendResponse)
    async def _send(request: Request, exc: SendResponse) -> Response:
        return exc.response

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(exc.to_problem(instance=request.url.path), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        syntax = [e for e in exc.errors() if e.get("type") == "json_invalid"]
        if syntax:
            # not JSON at all: the client's serializer is broken, no field is at fault
            loc = list(syntax[0].get("loc", ()))
            position = loc[1] if len(loc) > 1 else None
            reason = (syntax[0].get("ctx") or {}).get("error", "JSON decode error")
            return malformed_json(
                request,
                f"The body is not valid JSON: {reason}"
                + (f" at position {position}" if position is not None else ""),
                position=position,
            )
        errors = validation_errors(exc)
        fields = ", ".join(sorted({e["field"] for e in errors}))
        return problem_response(
            problem_body(
                status=422,
                code="validation-error",
                title="Invalid input",
                detail=f"Invalid value for: {fields}" if fields else "The request is invalid",
                instance=request.url.path,
                errors=errors,
            )
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
            # FastAPI's "There was an error parsing the body": bytes that are not UTF-8
            return malformed_json(request, "The body is not valid JSON: it is not UTF-8")
        code, title = _STATUS_CODES.get(exc.status_code, ("http-error", "HTTP error"))
        detail: str | None = exc.detail if isinstance(exc.detail, str) else None
        if detail == title:
            detail = None
        return problem_response(
            problem_body(
                status=exc.status_code,
                code=code,
                title=title,
                detail=detail,
                instance=request.url.path,
            ),
            dict(exc.headers) if exc.headers else None,
        )

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        # SQLSTATE class 22 (data exception: a NUL byte, a number out of range, an
        # invalid value for a type) is bad input that got past validation: a 422.
        sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        if isinstance(sqlstate, str) and sqlstate.startswith("22"):
            return problem_response(
                problem_body(
                    status=422,
                    code="unstorable-value",
                    title="Invalid input",
                    detail="A value in the request cannot be stored (for example a NUL "
                    "character or a number out of range).",
                    instance=request.url.path,
                )
            )
        return await unhandled_problem(request, exc)

    # What escapes the endpoint is answered by the kit's middleware (``unhandled_problem``
    # there), inside CORS and the correlation id; this handler, in Starlette's outermost
    # layer, is the last resort for what fails outside it.
    app.add_exception_handler(Exception, unhandled_problem)
