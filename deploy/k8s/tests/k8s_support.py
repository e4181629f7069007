"""Paths, the kustomize build, and the service contract the manifests are checked against.

The contract below is copied from the system's service contract (ports, env prefixes,
topics, scans, settings), not from deploy/k8s/generate.py, so the tests compare the
manifests with what the services expect rather than with the generator's own table.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
K8S_DIR = REPO_ROOT / "deploy" / "k8s"
SCHEMA_DIR = K8S_DIR / "schemas"
TOOLS_SCRIPT = K8S_DIR / "tools.sh"
KUSTOMIZE = REPO_ROOT / ".local" / "bin" / "kustomize"

OVERLAYS = ("dev", "prod")
# The oldest Kubernetes minor the manifests support (sleep preStop hooks, PDB
# unhealthyPodEvictionPolicy) and the newest kubernetes-validate ships schemas for.
MIN_KUBERNETES_VERSION = "1.31"
KUBERNETES_VERSIONS = (MIN_KUBERNETES_VERSION, "1.37")

Doc = dict[str, Any]


@dataclass(frozen=True)
class ServiceContract:
    name: str
    port: int
    prefix: str
    produces: frozenset[str]
    consumes: frozenset[str]
    scans: frozenset[str]
    # Settings only this service has; a tuple lists names any one of which will do.
    extra_settings: tuple[tuple[str, ...], ...] = ()

    @property
    def dlq(self) -> str:
        return f"{self.name}.dlq"


CONTRACT = {
    s.name: s
    for s in (
        ServiceContract(
            "ticket-service",
            8001,
            "TICKET",
            produces=frozenset({"tickets.events", "onboarding.commands"}),
            consumes=frozenset({"billing.events", "onboarding.events", "escalation.events"}),
            scans=frozenset({"sla-scan", "auto-close", "triage-refit"}),
            # the survey link mailed on solve
            extra_settings=(("TICKET_CSAT_SURVEY_URL",),),
        ),
        ServiceContract(
            "billing-service",
            8002,
            "BILLING",
            produces=frozenset({"billing.events"}),
            consumes=frozenset({"onboarding.events"}),
            scans=frozenset({"renewal-scan", "reconcile-stripe"}),
            # The contract names them STRIPE_*; billing's settings read BILLING_STRIPE_*.
            extra_settings=(
                ("BILLING_STRIPE_API_KEY", "STRIPE_API_KEY"),
                ("BILLING_STRIPE_WEBHOOK_SECRET", "STRIPE_WEBHOOK_SECRET"),
            ),
        ),
        ServiceContract(
            "onboarding-service",
            8003,
            "ONBOARDING",
            produces=frozenset({"onboarding.events"}),
            consumes=frozenset({"billing.events", "onboarding.commands"}),
            scans=frozenset({"inactive-user-scan", "scheduled-suspensions"}),
            # the link an invitation mail carries
            extra_settings=(("ONBOARDING_ACTIVATION_URL",),),
        ),
        ServiceContract(
            "escalation-service",
            8004,
            "ESCALATION",
            produces=frozenset({"escalation.events"}),
            consumes=frozenset({"tickets.events", "billing.events"}),
            scans=frozenset({"duplicates-refit", "reembed"}),
            extra_settings=(
                ("ESCALATION_JIRA_BASE_URL",),
                ("ESCALATION_JIRA_EMAIL",),
                ("ESCALATION_JIRA_API_TOKEN",),
                ("ESCALATION_JIRA_WEBHOOK_SECRET",),
                # links back to a bug
                ("ESCALATION_PUBLIC_BASE_URL",),
            ),
        ),
    )
}

TOPICS = frozenset(
    {"tickets.events", "billing.events", "onboarding.events", "escalation.events"}
    | {"onboarding.commands"}
)

# Each entry is one setting; a tuple lists names any one of which satisfies it.
# "{P}" is the service's env prefix.
COMMON_SETTINGS: tuple[tuple[str, ...], ...] = (
    ("{P}_DATABASE_URL",),
    ("{P}_HOST",),
    ("{P}_PORT",),
    ("ENVIRONMENT",),
    ("LOG_LEVEL",),
    ("KAFKA_BOOTSTRAP_SERVERS",),
    ("KAFKA_SECURITY_PROTOCOL",),
    ("KAFKA_SASL_MECHANISM",),
    ("KAFKA_SASL_USERNAME",),
    ("KAFKA_SASL_PASSWORD",),
    ("KAFKA_TOPIC_PARTITIONS",),
    ("JWT_SECRET", "JWT_JWKS_URL"),
    ("JWT_ISSUER",),
    ("JWT_AUDIENCE",),
    ("OTEL_EXPORTER_OTLP_ENDPOINT",),
    ("OTEL_SERVICE_NAME",),
    # Outbound mail (docs/email.md): unset, a service would fall back to a local Mailpit
    # and a development From (production refuses to start that way).
    ("SMTP_URL",),
    ("SMTP_PASSWORD",),
    ("MAIL_FROM",),
)
PROCESS_TOGGLES = ("{P}_RUN_API", "{P}_RUN_RELAY", "{P}_RUN_CONSUMERS")

# Settings that are credentials: they may only come from a Secret, key by key.
SECRET_SETTINGS = (
    "{P}_DATABASE_URL",
    "JWT_SECRET",
    "KAFKA_SASL_PASSWORD",
    "STRIPE_API_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "BILLING_STRIPE_API_KEY",
    "BILLING_STRIPE_WEBHOOK_SECRET",
    "ESCALATION_JIRA_API_TOKEN",
    "ESCALATION_JIRA_WEBHOOK_SECRET",
    "TICKET_CSAT_SECRET",
    "SMTP_PASSWORD",
)


def required_settings(service: str, *, long_running: bool) -> list[tuple[str, ...]]:
    contract = CONTRACT[service]
    settings = [*COMMON_SETTINGS, *contract.extra_settings]
    if long_running:
        settings.extend((toggle,) for toggle in PROCESS_TOGGLES)
    return [tuple(n.replace("{P}", contract.prefix) for n in alts) for alts in settings]


def secret_settings(service: str) -> set[str]:
    prefix = CONTRACT[service].prefix
    return {name.replace("{P}", prefix) for name in SECRET_SETTINGS}


def ensure_kustomize() -> Path:
    """The pinned kustomize in .local/bin, installed by deploy/k8s/tools.sh if missing."""
    result = subprocess.run(
        ["bash", str(TOOLS_SCRIPT)], capture_output=True, text=True, timeout=900, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"deploy/k8s/tools.sh failed:\n{result.stderr}")
    return KUSTOMIZE


def kustomize_build(kustomize: Path, target: Path) -> list[Doc]:
    result = subprocess.run(
        [str(kustomize), "build", str(target)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"kustomize build {target} failed:\n{result.stderr}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def load_module(name: str, path: Path) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
