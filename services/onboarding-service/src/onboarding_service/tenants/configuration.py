"""The schema a tenant's configuration must satisfy: unknown or bad keys are a 422."""

from __future__ import annotations

import functools
import zoneinfo
from enum import StrEnum
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from servicekit.fields import StrictBool


class DataRegion(StrEnum):
    us = "us"
    eu = "eu"
    apac = "apac"


class SsoProtocol(StrEnum):
    saml = "saml"
    oidc = "oidc"


HttpsUrl = Annotated[
    str, StringConstraints(pattern=r"^https://[^\s\x00-\x1f\x7f]+$", max_length=2000)
]


class SsoConfiguration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: StrictBool = False
    protocol: SsoProtocol | None = None
    metadata_url: (
        Annotated[str, StringConstraints(pattern=r"^https://[^\s\x00-\x1f\x7f]+$", max_length=2000)]
        | None
    ) = None
    """The identity provider's metadata (SAML) or discovery (OIDC) document, over https."""
    enforce: StrictBool = False
    """Password sign-in is refused when SSO is enforced."""

    @model_validator(mode="after")
    def _enabled_needs_provider(self) -> SsoConfiguration:
        if self.enabled and (self.protocol is None or self.metadata_url is None):
            raise ValueError("enabled SSO needs protocol and metadata_url")
        if self.enforce and not self.enabled:
            raise ValueError("SSO can be enforced only when enabled")
        return self


FeatureFlag = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


DEFAULT_TIMEZONE = "America/New_York"
"""Support's own business calendar's zone: a tenant that names none keeps the deadlines
it had before the zone was used."""


@functools.cache
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


class TenantConfiguration(BaseModel):
    """Everything a tenant can configure; defaults make an empty object valid."""

    model_config = ConfigDict(extra="forbid")

    locale: Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[A-Z]{2})?$")] = "en-US"
    timezone: Annotated[str, StringConstraints(min_length=1, max_length=64)] = DEFAULT_TIMEZONE
    """The tenant's IANA time zone; carried on every ``tenant.*`` event, where the ticket
    service counts the resolution clock on the tenant's business day (docs/sla.md)."""
    data_region: DataRegion = DataRegion.us
    mfa_required: StrictBool = True
    session_timeout_minutes: int = Field(default=720, ge=5, le=43200)
    sso: SsoConfiguration = Field(default_factory=SsoConfiguration)
    feature_flags: dict[FeatureFlag, StrictBool] = Field(default_factory=dict, max_length=100)
    inactive_after_days: int | None = Field(default=None, ge=1, le=3650)
    """The tenant's inactivity policy: users without a sign-in for this many days are
    marked inactive (the service's ``ONBOARDING_INACTIVE_AFTER_DAYS`` when unset)."""

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        if value not in _timezones():
            raise ValueError("not an IANA time zone name, e.g. Europe/Berlin")
        return value
