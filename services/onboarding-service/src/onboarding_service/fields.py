"""What the feature schemas share: ``Strict`` request bodies (an unknown member is a 422)
and the string field types (``servicekit.fields`` has the kit's), bounded and free of
control characters (PostgreSQL refuses NUL, and nobody's name contains a bell)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints


class Strict(BaseModel):
    """A request body: members it does not declare are refused."""

    model_config = ConfigDict(extra="forbid")


NO_CONTROL = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"

Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        max_length=320,
        pattern=r"^[^@ \x00-\x1f\x7f]{1,64}@[^@ \x00-\x1f\x7f]+\.[^@ \x00-\x1f\x7f]+$",
    ),
]
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NO_CONTROL),
]
Reason = Annotated[str, StringConstraints(max_length=500, pattern=NO_CONTROL)]
SearchText = Annotated[str, StringConstraints(max_length=200, pattern=NO_CONTROL)]
