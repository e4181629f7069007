"""ORM models of the escalation-service (its own database, ``escalation``)."""

from __future__ import annotations

from servicekit.db import ServiceBase, make_metadata


class Base(ServiceBase):
    __abstract__ = True
    metadata = make_metadata()
