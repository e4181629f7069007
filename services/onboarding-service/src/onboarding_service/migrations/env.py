"""Alembic environment of the onboarding-service."""

from servicekit.migrations import run_env

from onboarding_service.models import Base

run_env(Base.metadata)
