"""Request field types that read JSON literally: ``0`` is not ``false`` and a number is
not a date.

pydantic's lax mode turns ``0`` into ``False`` and ``2024`` into 1970-01-01T00:33:44 (a
Unix timestamp). Neither is what a client that sent them meant, and the OpenAPI document
promises a boolean or an ISO 8601 string, so such input is a 422 naming the field.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Annotated, Any

from pydantic import AwareDatetime, BeforeValidator, StrictBool

__all__ = ["AwareIsoDateTime", "IsoDate", "IsoDateTime", "LocalTime", "StrictBool"]

_NUMBER = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")


def _iso_text(value: Any) -> Any:
    if isinstance(value, int | float):  # bool is an int too
        raise ValueError("expected an ISO 8601 string, not a number")
    if isinstance(value, str) and _NUMBER.match(value):
        raise ValueError("expected an ISO 8601 string, not a number")
    return value


IsoDateTime = Annotated[datetime, BeforeValidator(_iso_text)]
"""A date-time given as ISO 8601 text (``2024-05-01T09:00:00Z``), never a timestamp."""

AwareIsoDateTime = Annotated[AwareDatetime, BeforeValidator(_iso_text)]
"""An ISO 8601 date-time that must carry its UTC offset."""

IsoDate = Annotated[date, BeforeValidator(_iso_text)]
"""A calendar date given as ISO 8601 text (``2024-05-01``)."""

LocalTime = Annotated[time, BeforeValidator(_iso_text)]
"""A time of day given as text (``09:00`` or ``09:00:00``), never a number of seconds."""
