"""Each rule catches the defect it exists for: a good overlay, broken one way, must fail."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from k8s_policy import Doc, check_schemas, of_kind, workloads
from k8s_rules import CUSTOM_SCHEMAS, POLICIES
from k8s_support import MIN_KUBERNETES_VERSION

pytestmark = pytest.mark.timeout(900)

Mutation = Callable[[list[Doc]], object]


def find(docs: list[Doc], kind: str, name: str) -> Doc:
    found: Doc = next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)
    return found


def pod(docs: list[Doc], kind: str, name: str) -> Doc:
    return next(w.pod_spec for w in workloads(docs) if w.doc is find(docs, kind, name))


def main_container(docs: list[Doc], kind: str, name: str) -> Doc:
    container: Doc = pod(docs, kind, name)["containers"][0]
    return container


def drop_env(docs: list[Doc], kind: str, name: str, env: str) -> None:
    container = main_container(docs, kind, name)
    container["env"] = [e for e in container["env"] if e["name"] != env]


def set_env(docs: list[Doc], kind: str, name: str, env: str, value: str) -> None:
    container = main_container(docs, kind, name)
    container["env"] = [e for e in container["env"] if e["name"] != env]
    container["env"].append({"name": env, "value": value})


def remove(docs: list[Doc], kind: str, name: str) -> None:
    docs.remove(find(docs, kind, name))


def config_map(docs: list[Doc], prefix: str) -> Doc:
    return next(d for d in of_kind(docs, "ConfigMap") if d["metadata"]["name"].startswith(prefix))


def acls(docs: list[Doc], user: str) -> list[Doc]:
    return list(find(docs, "KafkaUser", user)["spec"]["authorization"]["acls"])


def add_policy(docs: list[Doc], spec: Doc) -> None:
    docs.append(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "sneaky", "namespace": "supportops"},
            "spec": spec,
        }
    )


TICKET_API = ("Deployment", "ticket-service-api")
TICKET_WORKER = ("Deployment", "ticket-service-worker")
BILLING_API = ("Deployment", "billing-service-api")
SLA_SCAN = ("CronJob", "ticket-service-sla-scan")


@dataclass(frozen=True)
class Case:
    rule: str
    breaks: str
    mutate: Mutation
    expect: str
    overlay: str = "prod"


CASES = [
    Case(
        "probes",
        "readiness probe missing",
        lambda d: main_container(d, *TICKET_API).pop("readinessProbe"),
        "readinessProbe must GET /readyz",
    ),
    Case(
        "probes",
        "liveness probe on /readyz",
        lambda d: main_container(d, *TICKET_WORKER)["livenessProbe"]["httpGet"].update(
            path="/readyz"
        ),
        "livenessProbe must GET /healthz",
    ),
    Case(
        "probes",
        "scan without a deadline",
        lambda d: find(d, *SLA_SCAN)["spec"]["jobTemplate"]["spec"].pop("activeDeadlineSeconds"),
        "needs activeDeadlineSeconds",
    ),
    Case(
        "resources",
        "no memory limit",
        lambda d: main_container(d, *TICKET_WORKER)["resources"]["limits"].pop("memory"),
        "no limits.memory",
    ),
    Case(
        "resources",
        "no requests on a migration",
        lambda d: main_container(d, "Job", "billing-service-migrate")["resources"].pop("requests"),
        "no requests.cpu",
    ),
    Case(
        "security-context",
        "runs as root",
        lambda d: pod(d, *TICKET_API)["securityContext"].update(runAsUser=0),
        "runAsUser must be an explicit non-zero uid",
    ),
    Case(
        "security-context",
        "runAsNonRoot dropped everywhere",
        lambda d: (
            pod(d, *SLA_SCAN)["securityContext"].pop("runAsNonRoot"),
            main_container(d, *SLA_SCAN)["securityContext"].pop("runAsNonRoot"),
        ),
        "runAsNonRoot is not true",
    ),
    Case(
        "security-context",
        "writable root filesystem",
        lambda d: main_container(d, *BILLING_API)["securityContext"].update(
            readOnlyRootFilesystem=False
        ),
        "readOnlyRootFilesystem is not true",
    ),
    Case(
        "security-context",
        "privilege escalation",
        lambda d: main_container(d, *BILLING_API)["securityContext"].pop(
            "allowPrivilegeEscalation"
        ),
        "allowPrivilegeEscalation is not false",
    ),
    Case(
        "security-context",
        "capabilities kept",
        lambda d: main_container(d, *BILLING_API)["securityContext"].update(
            capabilities={"add": ["NET_ADMIN"]}
        ),
        "capabilities.drop does not include ALL",
    ),
    Case(
        "security-context",
        "no seccomp profile",
        lambda d: pod(d, *TICKET_WORKER)["securityContext"].update(
            seccompProfile={"type": "Unconfined"}
        ),
        "not RuntimeDefault",
    ),
    Case(
        "images",
        "untagged image",
        lambda d: main_container(d, *TICKET_API).update(image="ghcr.io/supportops/ticket-service"),
        "has no tag",
    ),
    Case(
        "images",
        "latest tag",
        lambda d: main_container(d, *SLA_SCAN).update(image="ghcr.io/supportops/x:latest"),
        "uses latest",
    ),
    Case(
        "disruption-budgets",
        "worker without a PDB",
        lambda d: remove(d, "PodDisruptionBudget", "billing-service-worker"),
        "Deployment/billing-service-worker: no PodDisruptionBudget",
    ),
    Case(
        "disruption-budgets",
        "PDB selecting other pods",
        lambda d: find(d, "PodDisruptionBudget", "ticket-service-api")["spec"]["selector"][
            "matchLabels"
        ].update({"app.kubernetes.io/component": "worker-typo"}),
        "Deployment/ticket-service-api: no PodDisruptionBudget",
    ),
    Case(
        "autoscalers",
        "Deployment without an HPA",
        lambda d: remove(d, "HorizontalPodAutoscaler", "onboarding-service-api"),
        "onboarding-service-api: no HorizontalPodAutoscaler",
    ),
    Case(
        "autoscalers",
        "replicas pinned under an HPA",
        lambda d: find(d, *TICKET_API)["spec"].update(replicas=3),
        "fights its HorizontalPodAutoscaler",
    ),
    Case(
        "topology-spread",
        "no spread",
        lambda d: pod(d, *TICKET_API).pop("topologySpreadConstraints"),
        "not spread over kubernetes.io/hostname",
    ),
    Case(
        "graceful-termination",
        "worker killed before consumers drain",
        lambda d: pod(d, *TICKET_WORKER).update(terminationGracePeriodSeconds=10),
        "runs consumers with terminationGracePeriodSeconds 10",
    ),
    Case(
        "graceful-termination",
        "api that forgot to turn consumers off (they default on)",
        lambda d: drop_env(d, *TICKET_API, "TICKET_RUN_CONSUMERS"),
        "ticket-service-api: runs consumers",
    ),
    Case(
        "cron-jobs",
        "overlapping scans allowed",
        lambda d: find(d, *SLA_SCAN)["spec"].update(concurrencyPolicy="Allow"),
        "not Forbid",
    ),
    Case(
        "settings",
        "Stripe key not given to billing",
        lambda d: drop_env(d, *BILLING_API, "BILLING_STRIPE_API_KEY"),
        "billing-service-api container billing-service: setting BILLING_STRIPE_API_KEY or "
        "STRIPE_API_KEY not provided",
    ),
    Case(
        "settings",
        "database URL not given to a scan",
        lambda d: drop_env(d, *SLA_SCAN, "TICKET_DATABASE_URL"),
        "setting TICKET_DATABASE_URL not provided",
    ),
    Case(
        "settings",
        "shared setting removed from the ConfigMap",
        lambda d: config_map(d, "supportops-config")["data"].pop("KAFKA_BOOTSTRAP_SERVERS"),
        "setting KAFKA_BOOTSTRAP_SERVERS not provided",
    ),
    Case(
        "settings",
        "neither JWT secret nor JWKS (prod without JWKS)",
        lambda d: config_map(d, "supportops-config")["data"].pop("JWT_JWKS_URL"),
        "setting JWT_SECRET or JWT_JWKS_URL not provided",
    ),
    Case(
        "settings",
        "a process toggle missing on a Deployment",
        lambda d: drop_env(d, *TICKET_WORKER, "TICKET_RUN_API"),
        "setting TICKET_RUN_API not provided",
    ),
    Case(
        "settings",
        "a whole Secret as environment",
        lambda d: main_container(d, *TICKET_API)["envFrom"].append(
            {"secretRef": {"name": "everything"}}
        ),
        "envFrom secretRef",
    ),
    Case(
        "secrets",
        "Stripe key committed as a literal",
        lambda d: set_env(d, *BILLING_API, "BILLING_STRIPE_API_KEY", "sk_live_123"),
        "BILLING_STRIPE_API_KEY must come from a secretKeyRef, not value",
    ),
    Case(
        "secrets",
        "a Secret committed",
        lambda d: d.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "jwt", "namespace": "supportops"},
                "stringData": {"secret": "changeme"},
            }
        ),
        "Secret/jwt: Secrets are created out of band",
    ),
    Case(
        "secrets",
        "JWT secret in a ConfigMap",
        lambda d: config_map(d, "supportops-config")["data"].update(JWT_SECRET="changeme"),
        "holds secret JWT_SECRET",
        overlay="dev",
    ),
    Case(
        "network-policies",
        "no default deny",
        lambda d: remove(d, "NetworkPolicy", "default-deny-all"),
        "no default-deny NetworkPolicy",
    ),
    Case(
        "network-policies",
        "ticket-service allowed onto the internet",
        lambda d: add_policy(
            d,
            {
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": "ticket-service"}},
                "policyTypes": ["Egress"],
                "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}],
            },
        ),
        "Deployment/ticket-service-worker may reach 0.0.0.0/0",
    ),
    Case(
        "network-policies",
        "egress to another team's namespace",
        lambda d: add_policy(
            d,
            {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [
                            {
                                "namespaceSelector": {
                                    "matchLabels": {"kubernetes.io/metadata.name": "payments"}
                                }
                            }
                        ]
                    }
                ],
            },
        ),
        "egress to unexpected peer",
    ),
    Case(
        "network-policies",
        "API open to every pod in the cluster",
        lambda d: add_policy(
            d,
            {
                "podSelector": {"matchLabels": {"app.kubernetes.io/component": "api"}},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [{"namespaceSelector": {}}]}],
            },
        ),
        "accepts traffic from",
    ),
    Case(
        "network-policies",
        "API pods allowed onto the internet in dev (no JWKS there)",
        lambda d: add_policy(
            d,
            {
                "podSelector": {"matchLabels": {"app.kubernetes.io/component": "api"}},
                "policyTypes": ["Egress"],
                "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}],
            },
        ),
        "Deployment/ticket-service-api may reach 0.0.0.0/0",
        overlay="dev",
    ),
    Case(
        "network-policies",
        "API pods allowed to the SMTP relay (only workers send mail)",
        lambda d: add_policy(
            d,
            {
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": "onboarding-service"}},
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}],
                        "ports": [{"protocol": "TCP", "port": 587}],
                    }
                ],
            },
        ),
        "Deployment/onboarding-service-api may reach 0.0.0.0/0",
    ),
    Case(
        "network-policies",
        "a mail-sending worker allowed onto the internet beyond SMTP",
        lambda d: add_policy(
            d,
            {
                "podSelector": {"matchLabels": {"app.kubernetes.io/component": "worker"}},
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}],
                        "ports": [{"protocol": "TCP", "port": 22}],
                    }
                ],
            },
        ),
        "Deployment/ticket-service-worker may reach 0.0.0.0/0",
    ),
    Case(
        "settings",
        "no SMTP relay for a worker",
        lambda d: config_map(d, "supportops-config")["data"].pop("SMTP_URL"),
        "setting SMTP_URL not provided",
    ),
    Case(
        "secrets",
        "SMTP password as a literal",
        lambda d: set_env(d, *TICKET_WORKER, "SMTP_PASSWORD", "hunter2-hunter2-hunter2"),
        "SMTP_PASSWORD must come from a secretKeyRef",
    ),
    Case(
        "services-and-ingress",
        "Service selecting no pods",
        lambda d: find(d, "Service", "ticket-service")["spec"]["selector"].update(
            {"app.kubernetes.io/name": "tickets"}
        ),
        "Service/ticket-service: selects no pods",
    ),
    Case(
        "services-and-ingress",
        "host without TLS",
        lambda d: find(d, "Ingress", "supportops-api-ticket")["spec"]["tls"][0]["hosts"].pop(),
        "has no TLS",
    ),
    Case(
        "services-and-ingress",
        "route to a port the Service lacks",
        lambda d: find(d, "Ingress", "supportops-api-billing")["spec"]["rules"][0]["http"]["paths"][
            0
        ]["backend"]["service"].update(port={"name": "grpc"}),
        "routes to missing billing-service",
    ),
    Case(
        "kafka",
        "a service granted another group's dead letters",
        lambda d: find(d, "KafkaUser", "ticket-service")["spec"]["authorization"]["acls"].append(
            {
                "resource": {"type": "topic", "name": "billing-service.dlq"},
                "operations": ["Read"],
            }
        ),
        "KafkaUser/ticket-service: grants more than it needs: ('topic', 'billing-service.dlq'",
    ),
    Case(
        "kafka",
        "a consumer lacking Read on a topic it consumes",
        lambda d: find(d, "KafkaUser", "escalation-service")["spec"]["authorization"].update(
            acls=[
                a
                for a in acls(d, "escalation-service")
                if a["resource"]["name"] != "tickets.events"
            ]
        ),
        "KafkaUser/escalation-service: lacks ('topic', 'tickets.events', 'Read')",
    ),
    Case(
        "kafka",
        "prefix ACL",
        lambda d: acls(d, "billing-service")[0]["resource"].update(patternType="prefix"),
        "non-literal or deny rule",
    ),
    Case(
        "kafka",
        "dead-letter topic missing",
        lambda d: remove(d, "KafkaTopic", "onboarding-service.dlq"),
        "topic onboarding-service.dlq: no KafkaTopic",
    ),
    Case(
        "kafka",
        "under-replicated topic in prod",
        lambda d: find(d, "KafkaTopic", "billing.events")["spec"].update(replicas=2),
        "topic billing.events: replicas 2 != 3",
    ),
    Case(
        "kafka",
        "acks=all without a safety margin",
        lambda d: find(d, "KafkaTopic", "tickets.events")["spec"]["config"].update(
            {"min.insync.replicas": 1}
        ),
        "topic tickets.events: min.insync.replicas 1 != 2",
    ),
    Case(
        "kafka",
        "topics fewer partitions than the services are told",
        lambda d: config_map(d, "supportops-config")["data"].update(KAFKA_TOPIC_PARTITIONS="12"),
        "partitions 6 != 12",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c.rule}: {c.breaks}" for c in CASES])
def test_rule_catches(built: dict[str, list[Doc]], case: Case) -> None:
    docs = copy.deepcopy(built[case.overlay])
    assert POLICIES[case.rule](docs, case.overlay) == [], "the unbroken overlay must pass"
    case.mutate(docs)
    problems = POLICIES[case.rule](docs, case.overlay)
    assert any(case.expect in p for p in problems), problems


def test_every_rule_has_a_negative_case() -> None:
    assert {c.rule for c in CASES} == set(POLICIES)


SCHEMA_CASES = [
    (
        "unknown Deployment field (kubernetes-validate --strict)",
        lambda d: find(d, *TICKET_API)["spec"].update(replica=2),
        "'replica' was unexpected",
    ),
    (
        "probe port of the wrong type",
        lambda d: main_container(d, *TICKET_API)["readinessProbe"]["httpGet"].update(port=[8001]),
        "readinessProbe",
    ),
    (
        "KafkaTopic replicas as text",
        lambda d: find(d, "KafkaTopic", "tickets.events")["spec"].update(replicas="3"),
        "'3' is not of type 'integer'",
    ),
    (
        "KafkaTopic with a misspelt field",
        lambda d: find(d, "KafkaTopic", "tickets.events")["spec"].update(partition=6),
        "'partition' was unexpected",
    ),
    (
        "KafkaTopic without its cluster label",
        lambda d: find(d, "KafkaTopic", "tickets.events")["metadata"]["labels"].pop(
            "strimzi.io/cluster"
        ),
        "'strimzi.io/cluster' is a required property",
    ),
    (
        "KafkaUser ACL in the removed v1beta2 form",
        lambda d: acls(d, "ticket-service")[0].update(operation="Read"),
        "'operation' was unexpected",
    ),
    (
        "KafkaUser unknown operation",
        lambda d: acls(d, "ticket-service")[0].update(operations=["Everything"]),
        "'Everything' is not one of",
    ),
    (
        "PrometheusRule rule with neither alert nor record",
        lambda d: find(d, "PrometheusRule", "supportops")["spec"]["groups"][0]["rules"][0].pop(
            "alert"
        ),
        "is not valid under any of the given schemas",
    ),
    (
        "a custom resource nobody has a schema for",
        lambda d: d.append(
            {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
        ),
        "no schema for example.com/v1 Widget",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "expect"), [c[1:] for c in SCHEMA_CASES], ids=[c[0] for c in SCHEMA_CASES]
)
def test_schema_validation_catches(
    built: dict[str, list[Doc]], mutate: Mutation, expect: str
) -> None:
    docs = copy.deepcopy(built["prod"])
    mutate(docs)
    problems = check_schemas(docs, MIN_KUBERNETES_VERSION, CUSTOM_SCHEMAS)
    assert any(expect in p for p in problems), problems
