"""Triage categories, the subcategories of ``access``, and the channels a ticket comes in by.

Shared vocabulary of tickets and triage (rules match on channels and categories): it
lives here, below both, so neither feature package imports the other for it."""

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


class Channel(StrEnum):
    """How a customer opened a ticket (a triage rule can match on it)."""

    email = "email"
    chat = "chat"
    phone = "phone"
    social = "social"
    web = "web"
    api = "api"


class AccessSubcategory(StrEnum):
    login = "login"
    mfa = "mfa"
    inactive = "inactive"
    activation = "activation"


__all__ = ["AccessSubcategory", "Category", "Channel"]
