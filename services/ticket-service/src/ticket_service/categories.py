"""Triage categories and the subcategories of ``access``."""

from __future__ import annotations

from enum import StrEnum


class Category(StrEnum):
    access = "access"
    billing = "billing"
    subscription = "subscription"
    onboarding = "onboarding"
    platform_question = "platform_question"
    sales = "sales"
    compliance_guidance = "compliance_guidance"
    feature_request = "feature_request"
    potential_bug = "potential_bug"
    other = "other"


class AccessSubcategory(StrEnum):
    login = "login"
    mfa = "mfa"
    inactive = "inactive"
    activation = "activation"


__all__ = ["AccessSubcategory", "Category"]
