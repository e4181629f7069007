"""secrets.example.yaml documents exactly the Secrets and keys the overlays reference,
and no kustomization ever applies it."""

from __future__ import annotations

import pytest
import yaml
from k8s_policy import Doc, of_kind, workloads
from k8s_support import K8S_DIR, OVERLAYS

EXAMPLE = K8S_DIR / "secrets.example.yaml"


def example_keys() -> set[tuple[str, str]]:
    docs = [d for d in yaml.safe_load_all(EXAMPLE.read_text(encoding="utf-8")) if d]
    return {(d["metadata"]["name"], key) for d in docs for key in d["stringData"]}


def referenced_keys(docs: list[Doc]) -> set[tuple[str, str]]:
    """(Secret, key) pairs pods and the Ingress read, except the KafkaUser Secrets
    Strimzi's User Operator creates."""
    strimzi = {u["metadata"]["name"] for u in of_kind(docs, "KafkaUser")}
    refs = set()
    for workload in workloads(docs):
        for container in workload.containers():
            for env in container.get("env") or []:
                ref = (env.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    refs.add((ref["name"], ref["key"]))
        for volume in workload.pod_spec.get("volumes") or []:
            secret = volume.get("secret")
            if secret:
                refs |= {(secret["secretName"], item["key"]) for item in secret["items"]}
    for ingress in of_kind(docs, "Ingress"):
        for tls in ingress["spec"].get("tls", []):
            refs |= {(tls["secretName"], "tls.crt"), (tls["secretName"], "tls.key")}
    return {(name, key) for name, key in refs if name not in strimzi}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_example_lists_every_secret_an_overlay_reads(
    built: dict[str, list[Doc]], overlay: str
) -> None:
    assert referenced_keys(built[overlay]) - example_keys() == set()


def test_example_lists_nothing_that_is_not_read(built: dict[str, list[Doc]]) -> None:
    read = set().union(*(referenced_keys(docs) for docs in built.values()))
    assert example_keys() - read == set()


def test_example_holds_placeholders_only() -> None:
    docs = [d for d in yaml.safe_load_all(EXAMPLE.read_text(encoding="utf-8")) if d]
    for doc in docs:
        for key, value in doc["stringData"].items():
            assert "REPLACE_ME" in value, f"{doc['metadata']['name']}/{key} looks real"


def test_no_kustomization_applies_an_example() -> None:
    for kustomization in K8S_DIR.rglob("kustomization.yaml"):
        assert ".example.yaml" not in kustomization.read_text(encoding="utf-8"), kustomization
