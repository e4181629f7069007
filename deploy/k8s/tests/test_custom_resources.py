"""Our committed schemas for Strimzi and Prometheus Operator resources are sound: valid
JSON Schema, accepting the upstream projects' own examples, rejecting what the CRDs do."""

from __future__ import annotations

import jsonschema
import pytest
from k8s_policy import Doc
from k8s_rules import CUSTOM_SCHEMAS


def errors(doc: Doc) -> list[str]:
    schema = CUSTOM_SCHEMAS[(doc["apiVersion"], doc["kind"])]
    return [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(doc)]


@pytest.mark.parametrize("key", sorted(CUSTOM_SCHEMAS))
def test_schema_is_valid_json_schema(key: tuple[str, str]) -> None:
    jsonschema.Draft202012Validator.check_schema(CUSTOM_SCHEMAS[key])


def test_schemas_cover_the_custom_resources_we_use() -> None:
    assert set(CUSTOM_SCHEMAS) == {
        ("kafka.strimzi.io/v1", "KafkaTopic"),
        ("kafka.strimzi.io/v1", "KafkaUser"),
        ("monitoring.coreos.com/v1", "PodMonitor"),
        ("monitoring.coreos.com/v1", "PrometheusRule"),
        ("keda.sh/v1alpha1", "ScaledObject"),
        ("keda.sh/v1alpha1", "TriggerAuthentication"),
    }


# Shaped like KEDA's Kafka scaler documentation example (SASL/TLS via TriggerAuthentication).
KEDA_SCALED_OBJECT: Doc = {
    "apiVersion": "keda.sh/v1alpha1",
    "kind": "ScaledObject",
    "metadata": {"name": "kafka-scaledobject", "namespace": "default"},
    "spec": {
        "scaleTargetRef": {"name": "azure-functions-deployment"},
        "pollingInterval": 30,
        "triggers": [
            {
                "type": "kafka",
                "metadata": {
                    "bootstrapServers": "localhost:9092",
                    "consumerGroup": "my-group",
                    "topic": "test-topic",
                    "lagThreshold": "5",
                    "offsetResetPolicy": "latest",
                },
                "authenticationRef": {"name": "keda-trigger-auth-kafka-credential"},
            }
        ],
    },
}
KEDA_TRIGGER_AUTH: Doc = {
    "apiVersion": "keda.sh/v1alpha1",
    "kind": "TriggerAuthentication",
    "metadata": {"name": "keda-trigger-auth-kafka-credential", "namespace": "default"},
    "spec": {
        "secretTargetRef": [
            {"parameter": "sasl", "name": "keda-kafka-secrets", "key": "sasl"},
            {"parameter": "username", "name": "keda-kafka-secrets", "key": "username"},
            {"parameter": "password", "name": "keda-kafka-secrets", "key": "password"},
        ]
    },
}


def test_keda_examples_are_accepted_and_mistakes_refused() -> None:
    assert errors(KEDA_SCALED_OBJECT) == []
    assert errors(KEDA_TRIGGER_AUTH) == []
    no_target = {**KEDA_SCALED_OBJECT, "spec": {"triggers": KEDA_SCALED_OBJECT["spec"]["triggers"]}}
    assert errors(no_target)
    typo = {**KEDA_TRIGGER_AUTH, "spec": {"secretTargetRefs": []}}
    assert errors(typo)


# Shaped like Strimzi's examples/topic/kafka-topic.yaml and examples/user/kafka-user.yaml.
STRIMZI_TOPIC: Doc = {
    "apiVersion": "kafka.strimzi.io/v1",
    "kind": "KafkaTopic",
    "metadata": {"name": "my-topic", "labels": {"strimzi.io/cluster": "my-cluster"}},
    "spec": {
        "partitions": 1,
        "replicas": 1,
        "config": {"retention.ms": 7200000, "segment.bytes": 1073741824},
    },
}
STRIMZI_USER: Doc = {
    "apiVersion": "kafka.strimzi.io/v1",
    "kind": "KafkaUser",
    "metadata": {"name": "my-user", "labels": {"strimzi.io/cluster": "my-cluster"}},
    "spec": {
        "authentication": {"type": "tls"},
        "authorization": {
            "type": "simple",
            "acls": [
                {
                    "resource": {"type": "topic", "name": "my-topic", "patternType": "literal"},
                    "operations": ["Describe", "Read"],
                    "host": "*",
                },
                {
                    "resource": {"type": "group", "name": "my-group", "patternType": "literal"},
                    "operations": ["Read"],
                    "host": "*",
                },
            ],
        },
        "quotas": {"producerByteRate": 1048576, "consumerByteRate": 2097152},
    },
}


def test_upstream_examples_are_accepted() -> None:
    assert errors(STRIMZI_TOPIC) == []
    assert errors(STRIMZI_USER) == []


@pytest.mark.parametrize(
    ("path", "value", "expect"),
    [
        (("spec", "partitions"), 0, "less than the minimum of 1"),
        (("spec", "replicas"), 40000, "greater than the maximum of 32767"),
        (("metadata", "name"), "My_Topic", "does not match"),
    ],
)
def test_topic_bounds_from_the_crd(path: tuple[str, str], value: object, expect: str) -> None:
    doc = {**STRIMZI_TOPIC, path[0]: {**STRIMZI_TOPIC[path[0]], path[1]: value}}
    assert any(expect in e for e in errors(doc))


@pytest.mark.parametrize(
    ("spec", "expect"),
    [
        ({"authentication": {"type": "scram-sha-256"}}, "is not one of"),
        ({"authorization": {"type": "simple"}}, "'acls' is a required property"),
        (
            {"authorization": {"type": "simple", "acls": [{"resource": {"type": "topic"}}]}},
            "'operations' is a required property",
        ),
        ({"quotas": {"producerByteRate": -1}}, "less than the minimum of 0"),
    ],
)
def test_user_rules_from_the_crd(spec: Doc, expect: str) -> None:
    doc = {**STRIMZI_USER, "spec": spec}
    assert any(expect in e for e in errors(doc))
