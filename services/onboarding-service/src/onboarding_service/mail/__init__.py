"""Outbound e-mail of the onboarding-service (kit mail outbox; docs/email.md)."""
