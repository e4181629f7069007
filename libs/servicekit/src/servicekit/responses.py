"""A JSON response built from a model the endpoint has already validated once.

Returned from an endpoint that still declares ``response_model=`` (so the OpenAPI
document is unchanged), it skips FastAPI's second validation of the model against the
response model and its re-serialization: FastAPI passes a returned ``Response`` through
as it is (https://fastapi.tiangolo.com/advanced/response-directly/). Only for hot read
paths whose model is built from trusted rows; the bytes are what FastAPI would send
(pydantic's JSON, fields by alias).
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import Response
from pydantic import BaseModel


def model_response(
    model: BaseModel, *, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        content=model.model_dump_json(by_alias=True),
        status_code=status_code,
        headers=headers,
        media_type="application/json",
    )
