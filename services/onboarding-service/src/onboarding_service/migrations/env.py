"""Alembic environment of the onboarding-service."""

from onboarding_service.models import Base
from servicekit.migrations import run_env

run_env(Base.metadata)
