"""Each service image: multi-stage, uv-built from the lock, slim, non-root, no build tools."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from dockerfile_policy import check_dockerfile, parse
from k8s_support import CONTRACT, REPO_ROOT


def dockerfile(service: str) -> str:
    return (REPO_ROOT / "services" / service / "Dockerfile").read_text(encoding="utf-8")


@pytest.mark.parametrize("service", sorted(CONTRACT))
def test_dockerfile_follows_the_rules(service: str) -> None:
    assert check_dockerfile(dockerfile(service), service=service, port=CONTRACT[service].port) == []


@pytest.mark.parametrize("service", sorted(CONTRACT))
def test_image_holds_only_this_service(service: str) -> None:
    """The runtime gets the venv and nothing else; the build reads no other service's code
    (their pyproject.toml only, which uv needs to read the workspace)."""
    stages = parse(dockerfile(service))
    assert stages[-1].all("COPY") == ["--from=builder /app/.venv /app/.venv"]
    assert stages[-1].all("USER") == ["10001:10001"]
    sources = [c.split()[0] for s in stages[:-1] for c in s.all("COPY") if "--from" not in c]
    assert f"services/{service}/" in sources
    for other in CONTRACT:
        if other != service:
            assert f"services/{other}/" not in sources
            assert f"services/{other}/pyproject.toml" in sources


def test_dockerignore_keeps_the_context_small() -> None:
    ignored = (REPO_ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    for entry in (".git", ".venv", ".local", "**/__pycache__", "**/tests", "deploy", "docs"):
        assert entry in ignored, entry
    # The build needs the lock and the workspace members.
    for needed in ("uv.lock", "pyproject.toml", "libs", "services"):
        assert needed not in ignored


GOOD = dockerfile("ticket-service")
ENTRYPOINT = 'ENTRYPOINT ["ticket-service"]'


def in_final_stage(line: str) -> Callable[[str], str]:
    return lambda text: text.replace("USER 10001:10001", f"{line}\nUSER 10001:10001")


def replace(old: str, new: str) -> Callable[[str], str]:
    def mutate(text: str) -> str:
        assert old in text
        return text.replace(old, new)

    return mutate


BROKEN = [
    ("single stage", lambda _: "FROM python:3.11.14-slim\nUSER 10001\n", "not a multi-stage"),
    ("root after the app user", replace(ENTRYPOINT, f"USER root\n{ENTRYPOINT}"), "runs as root"),
    ("no USER", replace("USER 10001:10001\n", ""), "no USER: it runs as root"),
    (
        "untagged base",
        replace("PYTHON_IMAGE=python:3.11.14-slim-bookworm", "PYTHON_IMAGE=python"),
        "base image python has no tag",
    ),
    ("latest uv", replace("astral-sh/uv:0.13.9", "astral-sh/uv:latest"), "uses latest"),
    (
        "compiler in the runtime",
        in_final_stage("RUN apt-get update && apt-get install -y gcc"),
        "build tooling",
    ),
    ("uv in the runtime", in_final_stage("COPY --from=uv /uv /usr/local/bin/uv"), "copies uv"),
    (
        "pip left in",
        replace("python -m pip uninstall --yes --quiet pip setuptools wheel \\\n && ", ""),
        "keeps pip",
    ),
    (
        "full (non-slim) runtime base",
        replace("FROM ${PYTHON_IMAGE} AS runtime", "FROM python:3.11.14-bookworm AS runtime"),
        "not a slim",
    ),
    ("unlocked install", replace("uv sync --frozen", "uv sync"), "uv sync --frozen"),
    (
        "venv not from the builder",
        replace("COPY --from=builder /app/.venv /app/.venv", ""),
        "does not take the virtualenv",
    ),
    ("shell-form entrypoint", replace(ENTRYPOINT, "ENTRYPOINT ticket-service"), "exec form"),
    ("wrong port", replace("EXPOSE 8001", "EXPOSE 8080"), "does not EXPOSE 8001"),
]


@pytest.mark.parametrize(("breaks", "mutate", "expect"), BROKEN, ids=[b[0] for b in BROKEN])
def test_rules_catch(breaks: str, mutate: Callable[[str], str], expect: str) -> None:
    assert check_dockerfile(GOOD, service="ticket-service", port=8001) == []
    problems = check_dockerfile(mutate(GOOD), service="ticket-service", port=8001)
    assert any(expect in p for p in problems), problems
