"""The policy checks bound to supportops: our contract and what each overlay must hold."""

from __future__ import annotations

from collections.abc import Callable

import k8s_policy as policy
from k8s_policy import Doc, Workload
from k8s_support import CONTRACT, SCHEMA_DIR, TOPICS, required_settings, secret_settings

KAFKA_CLUSTER = "supportops"
# (replicas, min.insync.replicas) per overlay: dev runs a single broker.
TOPIC_REPLICATION = {"dev": (1, 1), "prod": (3, 2)}
# Where pods may open connections: the platform namespaces of the deployment guide.
EGRESS_NAMESPACES = {"kube-system", "kafka", "postgres", "observability"}
INGRESS_NAMESPACES = {"ingress-nginx", "monitoring"}
# Services that call a SaaS API (Stripe, Jira) and so reach public addresses on 443.
INTERNET_SERVICES = {"billing-service", "escalation-service"}
HTTPS = frozenset({443})
# Services whose worker runs the mail sender (RUN_MAIL_SENDER follows RUN_RELAY): it
# reaches the SMTP relay, an address outside the cluster, on the submission ports only.
MAIL_SERVICES = {"ticket-service", "onboarding-service"}
SMTP_SUBMISSION = frozenset({587, 465})

CUSTOM_SCHEMAS = policy.load_schemas(SCHEMA_DIR)


def may_reach_internet(overlay: str) -> Callable[[Workload, frozenset[int | str] | None], bool]:
    def allowed(workload: Workload, ports: frozenset[int | str] | None) -> bool:
        component = workload.pod_labels.get("app.kubernetes.io/component")
        https = ports is not None and ports <= HTTPS
        if workload.service in INTERNET_SERVICES and https:
            return True
        smtp = ports is not None and ports <= SMTP_SUBMISSION
        if workload.service in MAIL_SERVICES and component == "worker" and smtp:
            return True
        # prod verifies RS256 tokens: API pods fetch the identity provider's JWKS.
        return overlay == "prod" and component == "api" and https

    return allowed


def config_value(docs: list[Doc], config_map_prefix: str, key: str) -> str | None:
    for config_map in policy.of_kind(docs, "ConfigMap"):
        if config_map["metadata"]["name"].startswith(config_map_prefix + "-"):
            value = config_map.get("data", {}).get(key)
            if value is not None:
                return str(value)
    return None


def kafka(docs: list[Doc], overlay: str) -> list[str]:
    replicas, min_insync = TOPIC_REPLICATION[overlay]
    partitions = config_value(docs, "supportops-config", "KAFKA_TOPIC_PARTITIONS")
    told = config_value(docs, "supportops-config", "KAFKA_REPLICATION_FACTOR")
    problems = []
    if told != str(replicas):
        problems.append(f"KAFKA_REPLICATION_FACTOR is {told}, the topics have {replicas} replicas")
    return problems + policy.check_kafka(
        docs,
        services={
            name: (set(contract.produces), set(contract.consumes))
            for name, contract in CONTRACT.items()
        },
        topics=set(TOPICS),
        cluster=KAFKA_CLUSTER,
        replicas=replicas,
        min_insync_replicas=min_insync,
        # The topics must have the partitions the services are told they have.
        partitions=int(partitions) if partitions else -1,
    )


def settings(docs: list[Doc], overlay: str) -> list[str]:
    return policy.check_settings(
        docs,
        lambda service, long_running: required_settings(service, long_running=long_running),
        set(CONTRACT),
    )


def network(docs: list[Doc], overlay: str) -> list[str]:
    return policy.check_network_policies(
        docs,
        egress_namespaces=EGRESS_NAMESPACES,
        ingress_namespaces=INGRESS_NAMESPACES,
        may_reach_internet=may_reach_internet(overlay),
    )


POLICIES: dict[str, Callable[[list[Doc], str], list[str]]] = {
    "probes": lambda docs, _: policy.check_probes(docs),
    "resources": lambda docs, _: policy.check_resources(docs),
    "security-context": lambda docs, _: policy.check_security_context(docs),
    "images": lambda docs, _: policy.check_images(docs),
    "disruption-budgets": lambda docs, _: policy.check_disruption_budgets(docs),
    "autoscalers": lambda docs, _: policy.check_autoscalers(docs),
    "topology-spread": lambda docs, _: policy.check_topology_spread(docs),
    "graceful-termination": lambda docs, _: policy.check_graceful_termination(
        docs, {name: c.prefix for name, c in CONTRACT.items()}
    ),
    "cron-jobs": lambda docs, _: policy.check_cron_jobs(docs),
    "settings": settings,
    "secrets": lambda docs, _: policy.check_secrets(docs, secret_settings),
    "network-policies": network,
    "services-and-ingress": lambda docs, _: policy.check_services_and_ingress(docs),
    "kafka": kafka,
}
