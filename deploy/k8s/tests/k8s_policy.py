"""Our own checks on rendered manifests. Each returns the violations it finds, as text.

They take the documents `kustomize build` prints and know nothing about how they were
produced, so a hand-edited overlay is held to the same rules as the generated base.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate

Doc = dict[str, Any]

LONG_RUNNING = frozenset({"Deployment", "StatefulSet", "DaemonSet"})
WORKLOAD_KINDS = LONG_RUNNING | {"Job", "CronJob", "Pod"}
# The consumer drain time a worker needs between SIGTERM and SIGKILL.
MIN_CONSUMER_GRACE_SECONDS = 60


@dataclass(frozen=True)
class Workload:
    doc: Doc
    pod_spec: Doc
    pod_labels: dict[str, str]

    @property
    def ref(self) -> str:
        return f"{self.doc['kind']}/{self.doc['metadata']['name']}"

    @property
    def service(self) -> str | None:
        return self.pod_labels.get("app.kubernetes.io/name")

    def containers(self, *, init: bool = True) -> Iterator[Doc]:
        yield from self.pod_spec.get("containers", [])
        if init:
            yield from self.pod_spec.get("initContainers", [])


def workloads(docs: list[Doc]) -> Iterator[Workload]:
    for doc in docs:
        kind = doc.get("kind")
        if kind not in WORKLOAD_KINDS:
            continue
        if kind == "Pod":
            template = doc
        elif kind == "CronJob":
            template = doc["spec"]["jobTemplate"]["spec"]["template"]
        else:
            template = doc["spec"]["template"]
        labels = template.get("metadata", {}).get("labels", {})
        yield Workload(doc, template["spec"], dict(labels))


def of_kind(docs: list[Doc], kind: str) -> list[Doc]:
    return [d for d in docs if d.get("kind") == kind]


def namespace_of(doc: Doc) -> str:
    return str(doc["metadata"].get("namespace", "default"))


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Kubernetes label-selector semantics; an empty selector matches everything."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


# --- containers -----------------------------------------------------------------------


def check_probes(docs: list[Doc]) -> list[str]:
    """Long-running containers: startup and liveness on /healthz, readiness on /readyz.
    One-shot Jobs have no server to probe; they must carry a deadline instead."""
    expected = {
        "startupProbe": "/healthz",
        "livenessProbe": "/healthz",
        "readinessProbe": "/readyz",
    }
    problems = []
    for workload in workloads(docs):
        kind = workload.doc["kind"]
        if kind in LONG_RUNNING:
            for c in workload.containers(init=False):
                for probe, path in expected.items():
                    got = (c.get(probe) or {}).get("httpGet", {}).get("path")
                    if got != path:
                        problems.append(
                            f"{workload.ref} container {c['name']}: {probe} must GET {path}"
                            f" (has {got!r})"
                        )
        elif kind in ("Job", "CronJob"):
            job_spec = (
                workload.doc["spec"]["jobTemplate"]["spec"]
                if kind == "CronJob"
                else workload.doc["spec"]
            )
            if not job_spec.get("activeDeadlineSeconds"):
                problems.append(f"{workload.ref}: a one-shot job needs activeDeadlineSeconds")
    return problems


def check_resources(docs: list[Doc]) -> list[str]:
    problems = []
    for workload in workloads(docs):
        for c in workload.containers():
            resources = c.get("resources") or {}
            for section in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if not (resources.get(section) or {}).get(resource):
                        problems.append(
                            f"{workload.ref} container {c['name']}: no {section}.{resource}"
                        )
    return problems


def check_security_context(docs: list[Doc]) -> list[str]:
    """Non-root, read-only root filesystem, no privilege escalation, every capability
    dropped, seccomp RuntimeDefault, no host namespaces."""
    problems = []
    for workload in workloads(docs):
        pod = workload.pod_spec
        pod_sc = pod.get("securityContext") or {}
        for host in ("hostNetwork", "hostPID", "hostIPC"):
            if pod.get(host):
                problems.append(f"{workload.ref}: {host} is on")
        for c in workload.containers():
            sc = c.get("securityContext") or {}
            where = f"{workload.ref} container {c['name']}"

            def effective(key: str, sc: Doc = sc, pod_sc: Doc = pod_sc) -> Any:
                return sc[key] if key in sc else pod_sc.get(key)

            if effective("runAsNonRoot") is not True:
                problems.append(f"{where}: runAsNonRoot is not true")
            uid = effective("runAsUser")
            if uid is None or uid == 0:
                problems.append(f"{where}: runAsUser must be an explicit non-zero uid")
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: allowPrivilegeEscalation is not false")
            if sc.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: readOnlyRootFilesystem is not true")
            if sc.get("privileged"):
                problems.append(f"{where}: privileged")
            capabilities = sc.get("capabilities") or {}
            if "ALL" not in (capabilities.get("drop") or []):
                problems.append(f"{where}: capabilities.drop does not include ALL")
            if capabilities.get("add"):
                problems.append(f"{where}: adds capabilities {capabilities['add']}")
            seccomp = (effective("seccompProfile") or {}).get("type")
            if seccomp != "RuntimeDefault":
                problems.append(f"{where}: seccompProfile is {seccomp!r}, not RuntimeDefault")
    return problems


def check_images(docs: list[Doc]) -> list[str]:
    problems = []
    for workload in workloads(docs):
        for c in workload.containers():
            image = str(c.get("image", ""))
            name, _, digest = image.partition("@")
            last = name.rsplit("/", 1)[-1]
            tag = last.partition(":")[2]
            if digest:
                continue
            if not tag:
                problems.append(f"{workload.ref}: image {image!r} has no tag (means latest)")
            elif tag == "latest":
                problems.append(f"{workload.ref}: image {image!r} uses latest")
    return problems


# --- availability ---------------------------------------------------------------------


def check_disruption_budgets(docs: list[Doc]) -> list[str]:
    pdbs = of_kind(docs, "PodDisruptionBudget")
    problems = []
    for workload in workloads(docs):
        if workload.doc["kind"] != "Deployment":
            continue
        covered = [
            p
            for p in pdbs
            if namespace_of(p) == namespace_of(workload.doc)
            and selector_matches(p["spec"].get("selector"), workload.pod_labels)
        ]
        if not covered:
            problems.append(f"{workload.ref}: no PodDisruptionBudget selects its pods")
    return problems


def check_autoscalers(docs: list[Doc]) -> list[str]:
    targets = {
        (namespace_of(h), h["spec"]["scaleTargetRef"]["kind"], h["spec"]["scaleTargetRef"]["name"])
        for h in of_kind(docs, "HorizontalPodAutoscaler")
    }
    problems = []
    for deployment in of_kind(docs, "Deployment"):
        key = (namespace_of(deployment), "Deployment", deployment["metadata"]["name"])
        if key not in targets:
            problems.append(f"Deployment/{key[2]}: no HorizontalPodAutoscaler")
        if "replicas" in deployment["spec"]:
            problems.append(
                f"Deployment/{key[2]}: sets replicas, which fights its HorizontalPodAutoscaler"
            )
    return problems


def check_topology_spread(docs: list[Doc]) -> list[str]:
    problems = []
    for workload in workloads(docs):
        if workload.doc["kind"] != "Deployment":
            continue
        keys = {
            c["topologyKey"]
            for c in workload.pod_spec.get("topologySpreadConstraints", [])
            if selector_matches(c.get("labelSelector"), workload.pod_labels)
        }
        for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname"):
            if key not in keys:
                problems.append(f"{workload.ref}: pods are not spread over {key}")
    return problems


def env_value(container: Doc, name: str) -> str | None:
    for entry in container.get("env") or []:
        if entry["name"] == name:
            value = entry.get("value")
            return None if value is None else str(value)
    return None


def check_graceful_termination(docs: list[Doc], env_prefix: Mapping[str, str]) -> list[str]:
    """Pods running consumers get time to drain; no preStop pause eats the whole grace."""
    problems = []
    for workload in workloads(docs):
        if workload.doc["kind"] not in LONG_RUNNING:
            continue
        grace = workload.pod_spec.get("terminationGracePeriodSeconds", 30)
        prefix = env_prefix.get(workload.service or "")
        for c in workload.containers(init=False):
            if prefix is not None:
                # The toggle defaults to true: a container that does not set it consumes.
                consumers = env_value(c, f"{prefix}_RUN_CONSUMERS") or "true"
                if consumers.lower() == "true" and grace < MIN_CONSUMER_GRACE_SECONDS:
                    problems.append(
                        f"{workload.ref}: runs consumers with terminationGracePeriodSeconds "
                        f"{grace} < {MIN_CONSUMER_GRACE_SECONDS}"
                    )
            sleep = (((c.get("lifecycle") or {}).get("preStop") or {}).get("sleep") or {}).get(
                "seconds", 0
            )
            if sleep >= grace:
                problems.append(f"{workload.ref}: preStop sleep {sleep}s >= grace {grace}s")
    return problems


def check_cron_jobs(docs: list[Doc]) -> list[str]:
    return [
        f"CronJob/{c['metadata']['name']}: concurrencyPolicy is "
        f"{c['spec'].get('concurrencyPolicy', 'Allow')!r}, not Forbid"
        for c in of_kind(docs, "CronJob")
        if c["spec"].get("concurrencyPolicy") != "Forbid"
    ]


# --- settings and secrets -------------------------------------------------------------


def provided_settings(docs: list[Doc], workload: Workload, container: Doc) -> dict[str, Doc]:
    """Env name -> where it comes from ({"value": ...}, {"secretKeyRef": ...}, ...)."""
    config_maps = {(namespace_of(d), d["metadata"]["name"]): d for d in of_kind(docs, "ConfigMap")}
    provided: dict[str, Doc] = {}
    for source in container.get("envFrom") or []:
        ref = source.get("configMapRef")
        if ref is None:
            continue
        config_map = config_maps.get((namespace_of(workload.doc), ref["name"]))
        for key in (config_map or {}).get("data", {}):
            provided[source.get("prefix", "") + key] = {"configMap": ref["name"]}
    for entry in container.get("env") or []:
        if "valueFrom" in entry:
            provided[entry["name"]] = dict(entry["valueFrom"])
        else:
            provided[entry["name"]] = {"value": entry.get("value", "")}
    return provided


def check_settings(
    docs: list[Doc], required: Callable[[str, bool], list[tuple[str, ...]]], services: set[str]
) -> list[str]:
    """Every setting a service requires reaches each of its containers; a ConfigMap named
    in envFrom exists; settings never come from a whole Secret (envFrom secretRef hides
    which keys a pod needs)."""
    config_maps = {(namespace_of(d), d["metadata"]["name"]) for d in of_kind(docs, "ConfigMap")}
    problems = []
    for workload in workloads(docs):
        if workload.service not in services:
            continue
        long_running = workload.doc["kind"] in LONG_RUNNING
        for c in workload.containers(init=False):
            where = f"{workload.ref} container {c['name']}"
            for source in c.get("envFrom") or []:
                if "secretRef" in source:
                    problems.append(f"{where}: envFrom secretRef; reference keys one by one")
                ref = source.get("configMapRef")
                if ref and (namespace_of(workload.doc), ref["name"]) not in config_maps:
                    problems.append(f"{where}: envFrom ConfigMap {ref['name']} does not exist")
            provided = provided_settings(docs, workload, c)
            for alternatives in required(workload.service or "", long_running):
                if not any(name in provided for name in alternatives):
                    problems.append(f"{where}: setting {' or '.join(alternatives)} not provided")
    return problems


def check_secrets(docs: list[Doc], secret_settings: Callable[[str], set[str]]) -> list[str]:
    """No Secret is committed; credentials come from secretKeyRef, never a literal or a
    ConfigMap."""
    problems = [
        f"Secret/{d['metadata']['name']}: Secrets are created out of band, never committed"
        for d in of_kind(docs, "Secret")
    ]
    all_secret_names: set[str] = set()
    for workload in workloads(docs):
        if workload.service is None:
            continue
        names = secret_settings(workload.service)
        all_secret_names |= names
        for c in workload.containers():
            for name, source in provided_settings(docs, workload, c).items():
                if name in names and "secretKeyRef" not in source:
                    problems.append(
                        f"{workload.ref} container {c['name']}: {name} must come from a "
                        f"secretKeyRef, not {next(iter(source))}"
                    )
    for config_map in of_kind(docs, "ConfigMap"):
        for key in config_map.get("data", {}):
            if key in all_secret_names:
                problems.append(f"ConfigMap/{config_map['metadata']['name']}: holds secret {key}")
    return problems


# --- network --------------------------------------------------------------------------


def policies_for(docs: list[Doc], workload: Workload, policy_type: str) -> list[Doc]:
    return [
        p
        for p in of_kind(docs, "NetworkPolicy")
        if namespace_of(p) == namespace_of(workload.doc)
        and policy_type in p["spec"].get("policyTypes", ["Ingress"])
        and selector_matches(p["spec"].get("podSelector"), workload.pod_labels)
    ]


def peer_namespace(peer: Doc) -> str | None:
    labels = (peer.get("namespaceSelector") or {}).get("matchLabels") or {}
    return labels.get("kubernetes.io/metadata.name")


def check_network_policies(
    docs: list[Doc],
    *,
    egress_namespaces: set[str],
    ingress_namespaces: set[str],
    may_reach_internet: Callable[[Workload, frozenset[int | str] | None], bool],
) -> list[str]:
    """Default deny both ways; egress only to the named platform namespaces (and to the
    internet only where allowed, on the ports allowed: ``may_reach_internet`` gets the
    rule's ports, None for every port); ingress only from the named namespaces."""
    problems = []
    namespaces = {namespace_of(w.doc) for w in workloads(docs)}
    for namespace in sorted(namespaces):
        deny = [
            p
            for p in of_kind(docs, "NetworkPolicy")
            if namespace_of(p) == namespace
            and p["spec"].get("podSelector") == {}
            and set(p["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
            and not p["spec"].get("ingress")
            and not p["spec"].get("egress")
        ]
        if not deny:
            problems.append(f"namespace {namespace}: no default-deny NetworkPolicy")
    for workload in workloads(docs):
        for policy in policies_for(docs, workload, "Egress"):
            for rule in policy["spec"].get("egress") or []:
                peers = rule.get("to")
                ports = (
                    frozenset(p.get("port") for p in rule["ports"]) if rule.get("ports") else None
                )
                if not peers:
                    problems.append(
                        f"NetworkPolicy/{policy['metadata']['name']}: egress to anywhere "
                        f"for {workload.ref}"
                    )
                    continue
                for peer in peers:
                    if "ipBlock" in peer:
                        if not may_reach_internet(workload, ports):
                            problems.append(
                                f"NetworkPolicy/{policy['metadata']['name']}: {workload.ref} "
                                f"may reach {peer['ipBlock']['cidr']}"
                            )
                    elif peer_namespace(peer) not in egress_namespaces:
                        problems.append(
                            f"NetworkPolicy/{policy['metadata']['name']}: {workload.ref} "
                            f"egress to unexpected peer {peer}"
                        )
        for policy in policies_for(docs, workload, "Ingress"):
            for rule in policy["spec"].get("ingress") or []:
                for peer in rule.get("from") or [{}]:
                    if peer_namespace(peer) not in ingress_namespaces or "ipBlock" in peer:
                        problems.append(
                            f"NetworkPolicy/{policy['metadata']['name']}: {workload.ref} "
                            f"accepts traffic from {peer or 'anywhere'}"
                        )
    return problems


def check_services_and_ingress(docs: list[Doc]) -> list[str]:
    """Each Service selects pods that have its target port; each Ingress host has TLS
    and routes to a Service port that exists."""
    problems = []
    all_workloads = [w for w in workloads(docs) if w.doc["kind"] in LONG_RUNNING]
    services = {(namespace_of(s), s["metadata"]["name"]): s for s in of_kind(docs, "Service")}
    for (namespace, name), service in services.items():
        selected = [
            w
            for w in all_workloads
            if namespace_of(w.doc) == namespace
            and selector_matches({"matchLabels": service["spec"].get("selector")}, w.pod_labels)
        ]
        if not selected:
            problems.append(f"Service/{name}: selects no pods")
        for port in service["spec"].get("ports", []):
            target = port.get("targetPort", port["port"])
            for w in selected:
                ports = [p for c in w.containers(init=False) for p in c.get("ports", [])]
                if not any(target in (p.get("name"), p["containerPort"]) for p in ports):
                    problems.append(f"Service/{name}: {w.ref} has no port {target!r}")
    for ingress in of_kind(docs, "Ingress"):
        tls_hosts = {h for t in ingress["spec"].get("tls", []) for h in t.get("hosts", [])}
        for rule in ingress["spec"].get("rules", []):
            host = rule.get("host")
            if host not in tls_hosts:
                problems.append(f"Ingress/{ingress['metadata']['name']}: {host} has no TLS")
            for path in rule.get("http", {}).get("paths", []):
                backend = path["backend"]["service"]
                target = services.get((namespace_of(ingress), backend["name"]))
                port_names = {
                    p.get("name") for p in (target or {}).get("spec", {}).get("ports", [])
                }
                if target is None or backend["port"].get("name") not in port_names:
                    problems.append(
                        f"Ingress/{ingress['metadata']['name']}: {host}{path['path']} routes to "
                        f"missing {backend['name']}:{backend['port']}"
                    )
    return problems


# --- schemas --------------------------------------------------------------------------


def load_schemas(schema_dir: Path) -> dict[tuple[str, str], Doc]:
    """(apiVersion, kind) -> JSON Schema, for the custom resources we commit schemas for."""
    schemas = {}
    for path in sorted(schema_dir.glob("*.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        props = schema["properties"]
        schemas[(props["apiVersion"]["const"], props["kind"]["const"])] = schema
    return schemas


def check_schemas(
    docs: list[Doc], kubernetes_version: str, custom_schemas: Mapping[tuple[str, str], Doc]
) -> list[str]:
    """kubernetes-validate --strict for built-in kinds; our committed schemas for custom
    resources, which kubernetes-validate only warns about. A custom resource with no
    schema is itself a violation."""
    problems = []
    for doc in docs:
        ref = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        custom = custom_schemas.get((doc.get("apiVersion", ""), doc.get("kind", "")))
        if custom is not None:
            validator = jsonschema.Draft202012Validator(custom)
            for error in sorted(validator.iter_errors(doc), key=lambda e: list(e.path)):
                path = ".".join(str(p) for p in error.path)
                problems.append(f"{ref}: {path}: {error.message}")
            continue
        try:
            kubernetes_validate.validate(doc, kubernetes_version, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(p) for p in error.path)
            problems.append(f"{ref} (Kubernetes {kubernetes_version}): {path}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(f"{ref}: no schema for {doc.get('apiVersion')} {doc.get('kind')}")
    return problems


# --- Kafka ----------------------------------------------------------------------------


def topic_name(topic: Doc) -> str:
    return str(topic["spec"].get("topicName") or topic["metadata"]["name"])


def expected_acls(produces: set[str], consumes: set[str], group: str) -> set[tuple[str, str, str]]:
    acls = set()
    for topic in produces:
        acls |= {("topic", topic, "Write"), ("topic", topic, "Describe")}
    for topic in consumes:
        acls |= {("topic", topic, "Read"), ("topic", topic, "Describe")}
    return acls | {("group", group, "Read"), ("group", group, "Describe")}


def check_kafka(
    docs: list[Doc],
    *,
    services: Mapping[str, tuple[set[str], set[str]]],
    topics: set[str],
    cluster: str,
    replicas: int,
    min_insync_replicas: int,
    partitions: int,
) -> list[str]:
    """Topics: every one the services use, and a DLQ per consumer group, with the
    replication, min ISR and retention asked for. Users: one per service, SCRAM, with
    ACLs exactly what it produces (its DLQ included) and consumes, on literal names."""
    problems = []
    kafka_topics = {topic_name(t): t for t in of_kind(docs, "KafkaTopic")}
    dlqs = {f"{name}.dlq" for name in services}
    for name in sorted((topics | dlqs) - kafka_topics.keys()):
        problems.append(f"topic {name}: no KafkaTopic")
    for name in sorted(kafka_topics.keys() - topics - dlqs):
        problems.append(f"topic {name}: not in the service contract")
    for name, topic in kafka_topics.items():
        spec = topic["spec"]
        config = spec.get("config") or {}
        if topic["metadata"].get("labels", {}).get("strimzi.io/cluster") != cluster:
            problems.append(f"topic {name}: not labelled strimzi.io/cluster={cluster}")
        if spec.get("replicas") != replicas:
            problems.append(f"topic {name}: replicas {spec.get('replicas')} != {replicas}")
        if int(config.get("min.insync.replicas", 1)) != min_insync_replicas:
            problems.append(
                f"topic {name}: min.insync.replicas {config.get('min.insync.replicas')} "
                f"!= {min_insync_replicas}"
            )
        if "retention.ms" not in config:
            problems.append(f"topic {name}: no retention.ms")
        if name in topics and spec.get("partitions") != partitions:
            problems.append(f"topic {name}: partitions {spec.get('partitions')} != {partitions}")
    users = {u["metadata"]["name"]: u for u in of_kind(docs, "KafkaUser")}
    for name in sorted(users.keys() - services.keys()):
        problems.append(f"KafkaUser/{name}: not a service of the contract")
    for name, (produces, consumes) in services.items():
        user = users.get(name)
        if user is None:
            problems.append(f"KafkaUser/{name}: missing")
            continue
        spec = user["spec"]
        if spec.get("authentication", {}).get("type") != "scram-sha-512":
            problems.append(f"KafkaUser/{name}: authentication is not scram-sha-512")
        granted = set()
        for rule in spec.get("authorization", {}).get("acls", []):
            resource = rule["resource"]
            if resource.get("patternType", "literal") != "literal" or rule.get("type") == "deny":
                problems.append(f"KafkaUser/{name}: non-literal or deny rule {rule}")
            granted |= {
                (resource["type"], resource.get("name", ""), op) for op in rule["operations"]
            }
        wanted = expected_acls(produces | {f"{name}.dlq"}, consumes, name)
        for acl in sorted(granted - wanted):
            problems.append(f"KafkaUser/{name}: grants more than it needs: {acl}")
        for acl in sorted(wanted - granted):
            problems.append(f"KafkaUser/{name}: lacks {acl}")
    return problems
