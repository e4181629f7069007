"""``make release-manifests``: a release's manifests are rendered once and kept, images
pinned by digest, migrate Jobs named per release and failing fast; the output passes
the same offline checks as the overlays."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
import yaml
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
from k8s_support import CONTRACT, K8S_DIR, MIN_KUBERNETES_VERSION, load_module

pytestmark = pytest.mark.timeout(900)
DIGESTS = {s: "sha256:" + f"{i:x}" * 64 for i, s in enumerate(sorted(CONTRACT), start=10)}


@pytest.fixture(scope="module")
def tool() -> ModuleType:
    return load_module("supportops_release", K8S_DIR / "release.py")


@pytest.fixture(scope="module")
def released(
    tool: ModuleType, kustomize: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[Doc]]:
    out = tmp_path_factory.mktemp("releases")
    where = tool.release("1.4.0-rc.1", DIGESTS, kustomize=kustomize, out_dir=out)
    docs = [d for d in yaml.safe_load_all((where / "supportops.yaml").read_text()) if d]
    return out, docs


def test_a_release_passes_the_offline_checks(released: tuple[Path, list[Doc]]) -> None:
    _, docs = released
    for check in (check_probes, check_resources, check_security_context, check_images):
        assert check(docs) == [], check.__name__
    assert check_schemas(docs, MIN_KUBERNETES_VERSION, CUSTOM_SCHEMAS) == []


def test_every_image_is_pinned_by_digest(released: tuple[Path, list[Doc]]) -> None:
    _, docs = released
    images = {
        c["image"]
        for kind in ("Deployment", "Job", "CronJob")
        for d in of_kind(docs, kind)
        for c in (
            d["spec"]["jobTemplate"]["spec"]["template"]
            if kind == "CronJob"
            else d["spec"]["template"]
        )["spec"]["containers"]
    }
    assert images == {f"ghcr.io/supportops/{s}:1.4.0-rc.1@{DIGESTS[s]}" for s in CONTRACT}


def test_migrate_jobs_are_named_per_release_and_fail_fast(
    released: tuple[Path, list[Doc]],
) -> None:
    _, docs = released
    jobs = {j["metadata"]["name"]: j for j in of_kind(docs, "Job")}
    assert set(jobs) == {f"{s}-migrate-1-4-0-rc-1" for s in CONTRACT}
    for job in jobs.values():
        assert job["spec"]["backoffLimit"] == 0  # one failed Pod fails the Job
        assert 0 < job["spec"]["activeDeadlineSeconds"] <= 900  # a hung one too
        assert job["metadata"]["labels"]["supportops.dev/release"] == "1-4-0-rc-1"


def test_a_release_is_kept_not_rendered_twice(
    tool: ModuleType, kustomize: Path, released: tuple[Path, list[Doc]]
) -> None:
    out, _ = released
    kept = out / "1.4.0-rc.1"
    assert (kept / "kustomization.yaml").exists() and (kept / "supportops.yaml").exists()
    with pytest.raises(tool.ReleaseError, match="exists"):
        tool.release("1.4.0-rc.1", DIGESTS, kustomize=kustomize, out_dir=out)


def test_bad_versions_and_digests_are_refused(tool: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(tool.ReleaseError, match="no digest for"):
        tool.parse_digests([f"ticket-service={DIGESTS['ticket-service']}"])
    with pytest.raises(tool.ReleaseError, match="not a sha256"):
        tool.parse_digests(["ticket-service=sha256:abc"])
    with pytest.raises(tool.ReleaseError, match="semantic version"):
        tool.release("latest", DIGESTS, kustomize=Path("/bin/false"), out_dir=tmp_path)
    assert tool.main(["1.0.0", "--out", str(tmp_path)]) == 2  # no digests
