"""The dead-letter replay tool: its manifests hold our rules, its logic copies the right
records back without the dead-letter headers."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
from k8s_policy import (
    Doc,
    check_images,
    check_probes,
    check_resources,
    check_schemas,
    check_security_context,
    of_kind,
)
from k8s_rules import CUSTOM_SCHEMAS
from k8s_support import K8S_DIR, MIN_KUBERNETES_VERSION, kustomize_build, load_module

pytestmark = pytest.mark.timeout(900)
REPLAY = K8S_DIR / "ops" / "dlq-replay"


@pytest.fixture(scope="module")
def replay_docs(kustomize: Path) -> list[Doc]:
    return kustomize_build(kustomize, REPLAY)


@pytest.fixture(scope="module")
def tool() -> ModuleType:
    return load_module("supportops_replay_dlq", REPLAY / "replay_dlq.py")


def test_replay_manifests_hold_the_rules(replay_docs: list[Doc]) -> None:
    for check in (check_probes, check_resources, check_security_context, check_images):
        assert check(replay_docs) == [], check.__name__
    assert check_schemas(replay_docs, MIN_KUBERNETES_VERSION, CUSTOM_SCHEMAS) == []


def test_replay_user_reads_only_dead_letters_and_writes_only_origins(
    replay_docs: list[Doc],
) -> None:
    (user,) = of_kind(replay_docs, "KafkaUser")
    acls = user["spec"]["authorization"]["acls"]
    grants = {
        (acl["resource"]["name"], op)
        for acl in acls
        if acl["resource"]["type"] == "topic"
        for op in acl["operations"]
    }
    groups = {acl["resource"]["name"] for acl in acls if acl["resource"]["type"] == "group"}
    assert groups == {"supportops-dlq-replay"}
    assert all(acl["resource"].get("patternType") == "literal" for acl in acls)
    reads = {name for name, op in grants if op == "Read"}
    writes = {name for name, op in grants if op == "Write"}
    assert reads and all(name.endswith(".dlq") for name in reads)
    assert writes and not any(name.endswith(".dlq") for name in writes)
    assert {op for _, op in grants} == {"Describe", "Read", "Write"}


def test_replay_defaults_to_a_dry_run(replay_docs: list[Doc]) -> None:
    (request,) = [
        c
        for c in of_kind(replay_docs, "ConfigMap")
        if c["metadata"]["name"].startswith("supportops-dlq-replay-request")
    ]
    assert request["data"]["DRY_RUN"] == "true"


DEAD_LETTER = [
    ("ce_id", b"evt-1"),
    ("ce_type", b"invoice.paid"),
    ("traceparent", b"00-abc-def-01"),
    ("dlq_error", b"boom"),
    ("dlq_reason", b"failed"),
    ("dlq_original_topic", b"billing.events"),
    ("dlq_original_offset", b"42"),
]


def test_replay_goes_back_to_the_original_topic_without_dlq_headers(tool: ModuleType) -> None:
    topic, headers = tool.replay_target(DEAD_LETTER)
    assert topic == "billing.events"
    assert headers == [
        ("ce_id", b"evt-1"),
        ("ce_type", b"invoice.paid"),
        ("traceparent", b"00-abc-def-01"),
    ]
    assert tool.replay_target([("ce_id", b"evt-1")]) is None


def test_replay_selects_by_event_id(tool: ModuleType) -> None:
    assert tool.selected("all", DEAD_LETTER)
    assert tool.selected("evt-0, evt-1", DEAD_LETTER)
    assert not tool.selected("evt-2", DEAD_LETTER)
    assert not tool.selected("", DEAD_LETTER)


def test_replay_speaks_tls_and_scram(tool: ModuleType) -> None:
    options = tool.kafka_options(
        {
            "KAFKA_BOOTSTRAP_SERVERS": "kafka:9093",
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "KAFKA_SASL_USERNAME": "supportops-dlq-replay",
            "KAFKA_SASL_PASSWORD": "secret",
        }
    )
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["ssl_context"] is not None
