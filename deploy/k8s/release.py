"""``make release-manifests VERSION=…``: render and keep one release's manifests.

    uv run python deploy/k8s/release.py 1.4.0 \\
        --digest ticket-service=sha256:… --digest billing-service=sha256:… \\
        --digest onboarding-service=sha256:… --digest escalation-service=sha256:…

Writes ``deploy/releases/<VERSION>/``: ``kustomization.yaml`` (the prod overlay with
the four images pinned by tag *and* digest, through kustomize ``images``) and
``supportops.yaml`` (what ``kustomize build`` of it gives, with each migrate Job named
``<service>-migrate-<version>``). Commit both: a rollback applies the previous
release's ``supportops.yaml`` as it was, never a re-render. Digests may also come from
``IMAGE_DIGESTS`` (``name=sha256:…`` separated by spaces or commas).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

K8S_DIR = Path(__file__).resolve().parent
REPO_ROOT = K8S_DIR.parents[1]
RELEASES_DIR = REPO_ROOT / "deploy" / "releases"
SERVICES = ("ticket-service", "billing-service", "onboarding-service", "escalation-service")
REGISTRY = "ghcr.io/supportops"
VERSION = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?$")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
RELEASE_LABEL = "supportops.dev/release"


class ReleaseError(ValueError):
    pass


def parse_digests(pairs: list[str]) -> dict[str, str]:
    digests: dict[str, str] = {}
    for pair in pairs:
        service, _, digest = pair.partition("=")
        if service not in SERVICES:
            raise ReleaseError(f"unknown service {service!r} (one of {', '.join(SERVICES)})")
        if not DIGEST.match(digest):
            raise ReleaseError(f"{service}: {digest!r} is not a sha256:<64 hex> digest")
        digests[service] = digest
    missing = [s for s in SERVICES if s not in digests]
    if missing:
        raise ReleaseError(f"no digest for {', '.join(missing)}: prod pins every image")
    return digests


def job_slug(version: str) -> str:
    """A release as a DNS label part: 1.4.0-rc.1 -> 1-4-0-rc-1."""
    return re.sub(r"[^a-z0-9]+", "-", version.lower()).strip("-")


def kustomization(version: str, digests: dict[str, str], release_dir: Path) -> str:
    prod = os.path.relpath(K8S_DIR / "overlays" / "prod", release_dir)
    doc = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [prod],
        "commonAnnotations": {RELEASE_LABEL: version},
        "images": [
            {"name": f"{REGISTRY}/{s}", "newTag": version, "digest": digests[s]} for s in SERVICES
        ],
    }
    header = f"# Release {version}: written by deploy/k8s/release.py; kept for rollback.\n"
    return header + yaml.safe_dump(doc, sort_keys=False)


def name_jobs_per_release(docs: list[dict[str, Any]], version: str) -> None:
    """``<service>-migrate`` -> ``<service>-migrate-<version>``: a Job's spec is
    immutable, so each release gets its own, and re-applying a release finds its own."""
    slug = job_slug(version)
    for doc in docs:
        if doc.get("kind") == "Job" and doc["metadata"]["name"].endswith("-migrate"):
            name = f"{doc['metadata']['name']}-{slug}"
            if len(name) > 63:
                raise ReleaseError(f"Job name {name!r} is longer than 63 characters")
            doc["metadata"]["name"] = name
            doc["metadata"].setdefault("labels", {})[RELEASE_LABEL] = slug


def render(kustomize: Path, release_dir: Path, version: str) -> str:
    built = subprocess.run(
        [str(kustomize), "build", str(release_dir)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if built.returncode != 0:
        raise ReleaseError(f"kustomize build failed:\n{built.stderr}")
    docs = [d for d in yaml.safe_load_all(built.stdout) if d]
    name_jobs_per_release(docs, version)
    header = f"# Release {version}, rendered by deploy/k8s/release.py. Apply, never edit.\n"
    return header + yaml.safe_dump_all(docs, sort_keys=False)


def release(
    version: str, digests: dict[str, str], *, kustomize: Path, out_dir: Path = RELEASES_DIR
) -> Path:
    if not VERSION.match(version):
        raise ReleaseError(f"VERSION {version!r} is not a semantic version like 1.4.0")
    release_dir = out_dir / version
    if (release_dir / "supportops.yaml").exists():
        raise ReleaseError(f"{release_dir} exists: a release is rendered once, then kept")
    release_dir.mkdir(parents=True, exist_ok=True)
    (release_dir / "kustomization.yaml").write_text(kustomization(version, digests, release_dir))
    (release_dir / "supportops.yaml").write_text(render(kustomize, release_dir, version))
    return release_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deploy/k8s/release.py", description=__doc__)
    parser.add_argument("version")
    parser.add_argument("--digest", action="append", default=[], metavar="SERVICE=sha256:…")
    parser.add_argument("--kustomize", default=str(REPO_ROOT / ".local" / "bin" / "kustomize"))
    parser.add_argument("--out", default=str(RELEASES_DIR))
    args = parser.parse_args(argv)
    pairs = list(args.digest) + re.split(r"[\s,]+", os.environ.get("IMAGE_DIGESTS", "").strip())
    try:
        digests = parse_digests([p for p in pairs if p])
        where = release(
            args.version, digests, kustomize=Path(args.kustomize), out_dir=Path(args.out)
        )
    except ReleaseError as exc:
        sys.stderr.write(f"release: {exc}\n")
        return 2
    shown = where.relative_to(REPO_ROOT) if where.is_relative_to(REPO_ROOT) else where
    sys.stdout.write(f"release {args.version}: {shown}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
