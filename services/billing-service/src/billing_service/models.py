"""ORM models of the billing-service (its own database, ``billing``)."""

from __future__ import annotations

from servicekit.db import ServiceBase, make_metadata


class Base(ServiceBase):
    __abstract__ = True
    metadata = make_metadata()
