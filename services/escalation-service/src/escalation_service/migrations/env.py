"""Alembic environment of the escalation-service."""

from escalation_service.models import Base
from servicekit.migrations import run_env

run_env(Base.metadata)
