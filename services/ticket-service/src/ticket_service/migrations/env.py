"""Alembic environment of the ticket-service."""

from servicekit.migrations import run_env
from ticket_service.models import Base

run_env(Base.metadata)
