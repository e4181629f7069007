"""ORM models of the ticket-service (its own database, ``tickets``)."""

from __future__ import annotations

from servicekit.db import ServiceBase, make_metadata


class Base(ServiceBase):
    __abstract__ = True
    metadata = make_metadata()
