"""Alembic environment of the billing-service."""

from billing_service.models import Base
from servicekit.migrations import run_env

run_env(Base.metadata)
