"""The toolbox Pod and the KEDA worker scaling: built with kustomize, validated like the
overlays (schemas, restricted security context, resources, images), the toolbox reached
by the network policies it needs, and KEDA scaling each worker on its own group's lag."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from k8s_policy import (
    Doc,
    check_images,
    check_resources,
    check_schemas,
    check_security_context,
    of_kind,
)
from k8s_rules import CUSTOM_SCHEMAS
from k8s_support import CONTRACT, K8S_DIR, MIN_KUBERNETES_VERSION, kustomize_build

pytestmark = pytest.mark.timeout(900)
TOOLBOX = K8S_DIR / "ops" / "toolbox"
KEDA = K8S_DIR / "components" / "keda-worker-scaling"


@pytest.fixture(scope="module")
def toolbox(kustomize: Path) -> list[Doc]:
    return kustomize_build(kustomize, TOOLBOX)


@pytest.fixture(scope="module")
def base_policies(kustomize: Path) -> list[Doc]:
    return of_kind(kustomize_build(kustomize, K8S_DIR / "base"), "NetworkPolicy")


@pytest.fixture(scope="module")
def prod_with_keda(kustomize: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Doc]:
    overlay = tmp_path_factory.mktemp("keda-overlay")
    prod = os.path.relpath(K8S_DIR / "overlays" / "prod", overlay)  # kustomize: no absolutes
    (overlay / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources: [{prod}]\ncomponents: [{os.path.relpath(KEDA, overlay)}]\n"
    )
    return kustomize_build(kustomize, overlay)


def test_the_toolbox_is_restricted_and_valid(toolbox: list[Doc]) -> None:
    for check in (check_resources, check_security_context, check_images):
        assert check(toolbox) == [], check.__name__
    assert check_schemas(toolbox, MIN_KUBERNETES_VERSION, CUSTOM_SCHEMAS) == []
    (pod,) = of_kind(toolbox, "Pod")
    assert {c["name"] for c in pod["spec"]["containers"]} == {"kafka", "psql", "service"}
    assert pod["spec"]["automountServiceAccountToken"] is False
    assert pod["spec"]["activeDeadlineSeconds"] <= 12 * 3600


def _selects(policy: Doc, labels: dict[str, str]) -> bool:
    selector = policy["spec"]["podSelector"]
    wanted = selector.get("matchLabels", {})
    if not all(labels.get(k) == v for k, v in wanted.items()):
        return False
    for expression in selector.get("matchExpressions", []):
        value, values = labels.get(expression["key"]), expression.get("values", [])
        match expression["operator"]:
            case "In" if value not in values:
                return False
            case "NotIn" if value in values:
                return False
            case "Exists" if value is None:
                return False
            case "DoesNotExist" if value is not None:
                return False
    return True


def test_the_toolbox_may_reach_kafka_and_postgresql_and_nothing_reaches_it(
    toolbox: list[Doc], base_policies: list[Doc]
) -> None:
    (pod,) = of_kind(toolbox, "Pod")
    labels = pod["metadata"]["labels"]
    egress_ports = {
        port["port"]
        for policy in base_policies
        if _selects(policy, labels) and "Egress" in policy["spec"]["policyTypes"]
        for rule in policy["spec"].get("egress", [])
        for port in rule.get("ports", [])
    }
    assert {9093, 5432, 53} <= egress_ports
    ingress_allowed = [
        policy["metadata"]["name"]
        for policy in base_policies
        if policy["spec"].get("ingress") and _selects(policy, labels)
    ]
    assert ingress_allowed == []


def test_keda_scales_each_worker_on_its_groups_lag(prod_with_keda: list[Doc]) -> None:
    assert check_schemas(prod_with_keda, MIN_KUBERNETES_VERSION, CUSTOM_SCHEMAS) == []
    workers = {
        d["metadata"]["name"]
        for d in of_kind(prod_with_keda, "Deployment")
        if d["metadata"]["name"].endswith("-worker")
    }
    scaled = {
        s["spec"]["scaleTargetRef"]["name"]: s for s in of_kind(prod_with_keda, "ScaledObject")
    }
    assert set(scaled) == workers
    hpas = {
        h["spec"]["scaleTargetRef"]["name"]
        for h in of_kind(prod_with_keda, "HorizontalPodAutoscaler")
    }
    assert not hpas & workers, "KEDA owns the workers' HPAs: the CPU ones must go"
    auths = {a["metadata"]["name"] for a in of_kind(prod_with_keda, "TriggerAuthentication")}
    for service in CONTRACT:
        (trigger,) = scaled[f"{service}-worker"]["spec"]["triggers"]
        assert trigger["type"] == "kafka"
        assert trigger["metadata"]["consumerGroup"] == service
        assert trigger["authenticationRef"]["name"] in auths


def test_a_scaled_object_with_a_number_in_its_metadata_is_refused() -> None:
    broken = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "x"},
        "spec": {
            "scaleTargetRef": {"name": "x"},
            "triggers": [{"type": "kafka", "metadata": {"lagThreshold": 100}}],
        },
    }
    assert check_schemas([broken], MIN_KUBERNETES_VERSION, CUSTOM_SCHEMAS) != []
