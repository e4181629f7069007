"""Response bodies of provisioning (the tenant with its first admin's invitation)."""

from __future__ import annotations

from pydantic import BaseModel

from onboarding_service.tenants.schemas import TenantOut
from onboarding_service.users.schemas import InvitationOut


class TenantCreated(BaseModel):
    tenant: TenantOut
    admin_invitation: InvitationOut
