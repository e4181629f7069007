"""Alembic environment of the billing-service."""

from servicekit.migrations import run_env

from billing_service.models import Base

run_env(Base.metadata)
