"""Every overlay builds, validates against Kubernetes' schemas and ours, and holds our rules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from k8s_policy import (
    LONG_RUNNING,
    Doc,
    check_schemas,
    env_value,
    of_kind,
    policies_for,
    workloads,
)
from k8s_rules import CUSTOM_SCHEMAS, POLICIES, config_value
from k8s_support import (
    CONTRACT,
    K8S_DIR,
    KUBERNETES_VERSIONS,
    MIN_KUBERNETES_VERSION,
    OVERLAYS,
    kustomize_build,
)

# The first test to use kustomize may have to compile it (deploy/k8s/tools.sh).
pytestmark = pytest.mark.timeout(900)


def named(docs: list[Doc], kind: str, name: str) -> Doc:
    matches = [d for d in of_kind(docs, kind) if d["metadata"]["name"] == name]
    assert matches, f"no {kind}/{name}"
    return matches[0]


def test_base_builds(kustomize: Path) -> None:
    docs = kustomize_build(kustomize, K8S_DIR / "base")
    assert {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"} == {
        "supportops"
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_overlay_validates_strictly(
    built: dict[str, list[Doc]], overlay: str, version: str
) -> None:
    assert check_schemas(built[overlay], version, CUSTOM_SCHEMAS) == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kubernetes_validate_cli_accepts_overlay(
    kustomize: Path, overlay: str, tmp_path: Path
) -> None:
    rendered = tmp_path / f"{overlay}.yaml"
    build = subprocess.run(
        [str(kustomize), "build", str(K8S_DIR / "overlays" / overlay), "-o", str(rendered)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, build.stderr
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "kubernetes_validate",
            "--strict",
            "--kubernetes-version",
            MIN_KUBERNETES_VERSION,
            "--quiet",
            str(rendered),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ERROR" not in result.stdout
    # Only the custom resources are left to our own schemas (test above).
    warned = [line for line in result.stdout.splitlines() if line.startswith("WARN")]
    assert all(("KafkaTopic" in w or "KafkaUser" in w or "monitoring" in w) for w in warned), warned


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("rule", sorted(POLICIES))
def test_policy_holds(built: dict[str, list[Doc]], overlay: str, rule: str) -> None:
    assert POLICIES[rule](built[overlay], overlay) == []


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", sorted(CONTRACT))
def test_api_and_worker_split(built: dict[str, list[Doc]], overlay: str, service: str) -> None:
    """The api Deployment serves HTTP only; the worker runs relay and consumers."""
    contract = CONTRACT[service]
    docs = built[overlay]
    expected = {
        "api": {"RUN_API": "true", "RUN_RELAY": "false", "RUN_CONSUMERS": "false"},
        "worker": {"RUN_API": "false", "RUN_RELAY": "true", "RUN_CONSUMERS": "true"},
    }
    for component, toggles in expected.items():
        deployment = named(docs, "Deployment", f"{service}-{component}")
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["command"] == [service]
        assert container["args"] == ["serve"]
        for toggle, value in toggles.items():
            assert env_value(container, f"{contract.prefix}_{toggle}") == value, toggle
        assert [p["containerPort"] for p in container["ports"]] == [contract.port]
    assert config_value(docs, f"{service}-config", f"{contract.prefix}_PORT") == str(contract.port)
    assert config_value(docs, f"{service}-config", f"{contract.prefix}_HOST") == "0.0.0.0"
    service_doc = named(docs, "Service", service)
    assert service_doc["spec"]["selector"]["app.kubernetes.io/component"] == "api"
    assert [p["port"] for p in service_doc["spec"]["ports"]] == [contract.port]


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", sorted(CONTRACT))
def test_migrations_and_scans_are_jobs(
    built: dict[str, list[Doc]], overlay: str, service: str
) -> None:
    docs = built[overlay]
    migrate = named(docs, "Job", f"{service}-migrate")
    (container,) = migrate["spec"]["template"]["spec"]["containers"]
    assert (container["command"], container["args"]) == ([service], ["migrate"])
    assert migrate["spec"]["template"]["spec"]["restartPolicy"] == "Never"

    scans = {}
    for workload in workloads(docs):
        if workload.doc["kind"] == "CronJob" and workload.service == service:
            (container,) = workload.pod_spec["containers"]
            assert container["command"] == [service]
            scans[container["args"][0]] = workload.doc
    assert set(scans) == CONTRACT[service].scans
    for cron_job in scans.values():
        assert cron_job["spec"]["concurrencyPolicy"] == "Forbid"
        assert len(cron_job["spec"]["schedule"].split()) == 5


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ingress_routes_one_host_by_prefix_to_each_api_only(
    built: dict[str, list[Doc]], overlay: str
) -> None:
    """One origin, as the local gateway: /ticket/... to ticket-service, prefix stripped."""
    ingresses = [d for d in built[overlay] if d["kind"] == "Ingress"]
    hosts = {rule["host"] for i in ingresses for rule in i["spec"]["rules"]}
    assert len(hosts) == 1, hosts
    (host,) = hosts
    assert host != "api.supportops.example.com", "the overlay sets the real host"
    routed = {}
    for ingress in ingresses:
        annotations = ingress["metadata"]["annotations"]
        (rule,) = ingress["spec"]["rules"]
        (path,) = rule["http"]["paths"]
        prefix = path["path"].split("/(")[0]
        routed[prefix] = path["backend"]["service"]["name"]
        assert path["path"] == prefix + "/(v1/.*|openapi\\.json|docs.*)"
        assert annotations["nginx.ingress.kubernetes.io/rewrite-target"] == "/$1"
        assert annotations["nginx.ingress.kubernetes.io/x-forwarded-prefix"] == prefix
        assert annotations["nginx.ingress.kubernetes.io/proxy-redirect-to"] == prefix + "/$1"
        assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
        assert ingress["spec"]["tls"] == [{"hosts": [host], "secretName": "supportops-api-tls"}]
    assert routed == {
        "/ticket": "ticket-service",
        "/billing": "billing-service",
        "/onboarding": "onboarding-service",
        "/escalation": "escalation-service",
    }


def test_prod_overlay_is_production(built: dict[str, list[Doc]]) -> None:
    docs = built["prod"]
    assert config_value(docs, "supportops-config", "ENVIRONMENT") == "production"
    assert config_value(docs, "supportops-config", "JWT_JWKS_URL")
    assert config_value(docs, "supportops-config", "OTEL_EXPORTER_OTLP_ENDPOINT")
    for workload in workloads(docs):
        for container in workload.containers():
            # HS256 shared secrets are for development only.
            assert env_value(container, "JWT_SECRET") is None
            assert all(e["name"] != "JWT_SECRET" for e in container.get("env", []))
    # Unset in production means Stripe itself.
    assert config_value(docs, "billing-service-config", "BILLING_STRIPE_API_BASE") is None
    for hpa in of_kind(docs, "HorizontalPodAutoscaler"):
        assert hpa["spec"]["minReplicas"] >= 2, hpa["metadata"]["name"]
    assert {d["kind"] for d in docs} >= {"PodMonitor", "PrometheusRule"}


def test_long_running_pods_share_one_shape(built: dict[str, list[Doc]]) -> None:
    """Every Deployment is an api or a worker of a contract service."""
    deployments = [w for w in workloads(built["prod"]) if w.doc["kind"] in LONG_RUNNING]
    names = {w.doc["metadata"]["name"] for w in deployments}
    assert names == {f"{s}-{c}" for s in CONTRACT for c in ("api", "worker")}


def test_dev_overlay_reaches_real_services(built: dict[str, list[Doc]]) -> None:
    """Outside production the services default to local stand-ins (stripe-mock on
    127.0.0.1); a cluster must point them at reachable ones."""
    docs = built["dev"]
    assert config_value(docs, "supportops-config", "ENVIRONMENT") == "development"
    base = config_value(docs, "billing-service-config", "BILLING_STRIPE_API_BASE")
    assert base is not None and base.startswith("https://")
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        value = config_value(docs, "supportops-config", name) or ""
        assert value and "127.0.0.1" not in value and "localhost" not in value, name


# The services whose worker runs the mail sender (RUN_MAIL_SENDER follows RUN_RELAY).
MAIL_SENDERS = {"ticket-service", "onboarding-service"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_mail_senders_reach_the_smtp_relay(built: dict[str, list[Doc]], overlay: str) -> None:
    """Without an egress rule the relay is unreachable behind default-deny: every mail
    would stay queued. Only the workers get it, and only on the submission ports."""
    docs = built[overlay]
    for workload in workloads(docs):
        if workload.service not in MAIL_SENDERS:
            continue
        component = workload.pod_labels.get("app.kubernetes.io/component")
        ports = set()
        for policy in policies_for(docs, workload, "Egress"):
            for rule in policy["spec"].get("egress") or []:
                if any("ipBlock" in peer for peer in rule.get("to") or []):
                    ports |= {p["port"] for p in rule.get("ports") or []}
        if component == "worker":
            assert {587, 465} <= ports, workload.ref
        else:
            assert not ports & {587, 465}, workload.ref
    smtp_url = config_value(docs, "supportops-config", "SMTP_URL") or ""
    assert smtp_url.startswith(("smtp://", "smtps://")), smtp_url
    assert "127.0.0.1" not in smtp_url and "localhost" not in smtp_url
    mail_from = config_value(docs, "supportops-config", "MAIL_FROM") or ""
    assert "@" in mail_from and "supportops.localhost" not in mail_from
