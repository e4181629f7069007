"""Alembic environment of the escalation-service."""

from servicekit.migrations import run_env

from escalation_service.models import Base

run_env(Base.metadata)
