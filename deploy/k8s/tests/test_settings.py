"""Every setting a service's own Settings class requires is provided by every overlay.

test_overlays checks the overlays against the written service contract; this test reads
the services' code: each required field of `<package>.config.Settings` (or of any
pydantic-settings class defined there) must reach every container of that service.
"""

from __future__ import annotations

import copy
import importlib
import inspect
from types import ModuleType
from typing import Any

import pytest
from k8s_policy import Doc, Workload, of_kind, provided_settings, workloads
from k8s_support import CONTRACT, OVERLAYS
from pydantic import AliasChoices, BaseModel
from pydantic_settings import BaseSettings, SettingsConfigDict

from servicekit.settings import ServiceSettings

pytestmark = pytest.mark.timeout(900)

PACKAGES = {
    "ticket-service": "ticket_service",
    "billing-service": "billing_service",
    "onboarding-service": "onboarding_service",
    "escalation-service": "escalation_service",
}


def settings_module(package: str) -> ModuleType:
    return importlib.import_module(f"{package}.config")


def settings_classes(module: ModuleType) -> list[type[BaseSettings]]:
    return [
        value
        for value in vars(module).values()
        if inspect.isclass(value)
        and issubclass(value, BaseSettings)
        and value is not BaseSettings
        and value.__module__ == module.__name__
    ]


def required_env(settings: type[BaseSettings]) -> list[tuple[str, ...]]:
    """Env names that satisfy each required field, following pydantic-settings: an alias
    replaces prefix + field name; names are case-insensitive unless configured not to be."""
    config: Any = settings.model_config
    prefix = config.get("env_prefix", "")
    delimiter = config.get("env_nested_delimiter")
    fold = not config.get("case_sensitive", False)
    required = []
    for name, field in settings.model_fields.items():
        if not field.is_required():
            continue
        alias = field.validation_alias if field.validation_alias is not None else field.alias
        if isinstance(alias, str):
            names = [alias]
        elif isinstance(alias, AliasChoices):
            names = [c for c in alias.choices if isinstance(c, str)]
        else:
            names = [prefix + name]
        annotation = field.annotation
        if delimiter and inspect.isclass(annotation) and issubclass(annotation, BaseModel):
            names.append(f"{prefix}{name}{delimiter}*")
        required.append(tuple(n.upper() if fold else n for n in names))
    return required


def satisfied(alternatives: tuple[str, ...], provided: set[str]) -> bool:
    for name in alternatives:
        if name.endswith("*") and any(p.startswith(name[:-1]) for p in provided):
            return True
        if name in provided:
            return True
    return False


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", sorted(CONTRACT))
def test_overlay_provides_what_settings_require(
    built: dict[str, list[Doc]], overlay: str, service: str
) -> None:
    classes = settings_classes(settings_module(PACKAGES[service]))
    assert classes, f"{PACKAGES[service]}.config defines no pydantic-settings class"
    required = [alts for cls in classes for alts in required_env(cls)]
    docs = built[overlay]
    problems = []
    for workload in workloads(docs):
        if workload.service != service:
            continue
        for container in workload.containers(init=False):
            provided = {name.upper() for name in provided_settings(docs, workload, container)}
            for alternatives in required:
                if not satisfied(tuple(a.upper() for a in alternatives), provided):
                    problems.append(f"{workload.ref}: {' or '.join(alternatives)} not provided")
    assert problems == []


def production_env(docs: list[Doc], workload: Workload, container: Doc) -> dict[str, str]:
    """What the container's environment would hold, with every Secret key filled with a
    real-looking value (the Secrets are created out of band)."""
    config_maps = {d["metadata"]["name"]: d.get("data", {}) for d in of_kind(docs, "ConfigMap")}
    env: dict[str, str] = {}
    for name, source in provided_settings(docs, workload, container).items():
        if "configMap" in source:
            env[name] = str(config_maps[source["configMap"]][name])
        elif "secretKeyRef" in source:
            real = "7c1f9a3e5b2d48c6a0e9f1b3d5c7a9e2"
            env[name] = (
                f"postgresql+asyncpg://svc:{real}@db.internal:5432/svc"
                if name.endswith("DATABASE_URL")
                else real
            )
        elif "value" in source:
            env[name] = str(source["value"])
        else:  # fieldRef
            env[name] = "pod-0"
    return env


@pytest.mark.parametrize("service", sorted(CONTRACT))
def test_prod_overlay_settings_start_in_production(
    built: dict[str, list[Doc]], service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The prod overlay's settings, read by the service's own Settings class, pass the
    production checks: no setting left to fall back to the local stack (Mailpit on
    127.0.0.1:1025, the local broker) or to the development MAIL_FROM."""
    docs = built["prod"]
    (settings_class,) = [
        cls
        for cls in settings_classes(settings_module(PACKAGES[service]))
        if issubclass(cls, ServiceSettings)
    ]
    checked = 0
    for workload in workloads(docs):
        if workload.service != service:
            continue
        for container in workload.containers(init=False):
            env = production_env(docs, workload, container)
            for name in read_env(settings_class):
                monkeypatch.delenv(name, raising=False)
            for name, value in env.items():
                monkeypatch.setenv(name, value)
            settings = settings_class()
            assert settings.environment == "production"
            assert settings.smtp_url == env["SMTP_URL"]
            assert settings.mail_from == env["MAIL_FROM"]
            checked += 1
    assert checked


# Set in the manifests but read by something other than the Settings class.
READ_ELSEWHERE = {
    "POD_NAME",  # expanded into OTEL_RESOURCE_ATTRIBUTES
    "POD_NAMESPACE",
    "OTEL_RESOURCE_ATTRIBUTES",  # the OpenTelemetry SDK's Resource.create()
    "OTEL_SERVICE_NAME",
}


def read_env(settings: type[BaseSettings]) -> set[str]:
    """Every env name the class reads (upper-cased: pydantic-settings folds case)."""
    prefix = settings.model_config.get("env_prefix", "")
    names = set()
    for name, field in settings.model_fields.items():
        alias = field.validation_alias if field.validation_alias is not None else field.alias
        if isinstance(alias, str):
            names.add(alias)
        elif isinstance(alias, AliasChoices):
            names.update(c for c in alias.choices if isinstance(c, str))
        else:
            names.add(prefix + name)
    return {n.upper() for n in names}


def service_reads(service: str) -> set[str]:
    classes = settings_classes(settings_module(PACKAGES[service]))
    return set().union(*(read_env(cls) for cls in classes))


def unread_settings(docs: list[Doc], service: str) -> set[str]:
    known = service_reads(service) | READ_ELSEWHERE
    unread = set()
    for workload in workloads(docs):
        if workload.service == service:
            for container in workload.containers(init=False):
                provided = provided_settings(docs, workload, container)
                unread |= {name for name in provided if name.upper() not in known}
    return unread


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", sorted(CONTRACT))
def test_overlay_sets_only_what_the_service_reads(
    built: dict[str, list[Doc]], overlay: str, service: str
) -> None:
    """A misspelt or renamed setting would be ignored silently and the default used."""
    assert unread_settings(built[overlay], service) == set()


def test_a_misspelt_setting_is_caught(built: dict[str, list[Doc]]) -> None:
    docs = copy.deepcopy(built["prod"])
    worker = next(
        w for w in workloads(docs) if w.doc["metadata"]["name"] == "ticket-service-worker"
    )
    worker.pod_spec["containers"][0]["env"].append({"name": "TICKET_RUN_CONSUMER", "value": "1"})
    assert unread_settings(docs, "ticket-service") == {"TICKET_RUN_CONSUMER"}


class _Nested(BaseModel):
    url: str


class _ExampleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TICKET_", env_nested_delimiter="__")
    database_url: str
    jwt_secret: str = "dev"
    issuer: str = ""
    kafka: _Nested
    audience: str = ""


def test_required_env_follows_pydantic_settings() -> None:
    assert required_env(_ExampleSettings) == [
        ("TICKET_DATABASE_URL",),
        ("TICKET_KAFKA", "TICKET_KAFKA__*"),
    ]
    assert satisfied(("TICKET_KAFKA", "TICKET_KAFKA__*"), {"TICKET_KAFKA__URL"})
    assert not satisfied(("TICKET_DATABASE_URL",), {"DATABASE_URL"})
