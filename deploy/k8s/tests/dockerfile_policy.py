"""Rules for the service Dockerfiles, checked by reading the file (no Docker needed)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

# Anything that compiles, fetches or installs software has no place in a runtime image.
BUILD_TOOLS = re.compile(
    r"\b(apt-get install|apt install|apk add|dnf install|yum install|pip3? install|"
    r"uv (?:pip|sync|add)|gcc|g\+\+|clang|make|build-essential|cargo|rustc|git|curl|wget)\b"
)


@dataclass
class Instruction:
    keyword: str
    args: str


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [i.args for i in self.instructions if i.keyword == keyword]


def parse(text: str) -> list[Stage]:
    """Stages of a Dockerfile, with ARG defaults declared before the first FROM
    substituted into the FROM lines."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "ARG" and not stages:
            arg, _, default = args.partition("=")
            global_args[arg] = default
        elif keyword == "FROM":
            words = [w for w in args.split() if not w.startswith("--")]
            image = re.sub(
                r"\$\{?(\w+)\}?", lambda m: global_args.get(m.group(1), m.group(0)), words[0]
            )
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(image=image, name=name))
        elif stages:
            stages[-1].instructions.append(Instruction(keyword, args))
    return stages


def image_problem(image: str) -> str | None:
    name, _, digest = image.partition("@")
    if digest:
        return None
    tag = name.rsplit("/", 1)[-1].partition(":")[2]
    if not tag:
        return f"base image {image} has no tag (means latest)"
    if tag == "latest":
        return f"base image {image} uses latest"
    return None


def check_dockerfile(text: str, *, service: str, port: int) -> list[str]:
    stages = parse(text)
    if len(stages) < 2:
        return ["not a multi-stage build"]
    problems = []
    names = {s.name for s in stages if s.name}
    for stage in stages:
        if stage.image not in names and (problem := image_problem(stage.image)):
            problems.append(problem)
    final, earlier = stages[-1], stages[:-1]

    users = final.all("USER")
    user = users[-1].split(":")[0] if users else None
    if user is None:
        problems.append("final stage has no USER: it runs as root")
    elif user in ("root", "0"):
        problems.append(f"final stage runs as {user}")
    if not re.search(r"(-slim\b|distroless)", final.image):
        problems.append(f"final stage base {final.image} is not a slim or distroless image")
    for run in final.all("RUN"):
        if match := BUILD_TOOLS.search(run):
            problems.append(f"final stage uses build tooling: {match.group(0)!r} in RUN {run}")
    if final.image.startswith("python:") and not any(
        "pip uninstall" in run and "pip" in run.split("uninstall", 1)[1] for run in final.all("RUN")
    ):
        problems.append("final stage keeps pip from the python base image")
    uv_stages = {s.name for s in earlier if s.name and "astral-sh/uv" in s.image}
    for copy in final.all("COPY"):
        source = re.search(r"--from=(\S+)", copy)
        if source and (source.group(1) in uv_stages or "astral-sh/uv" in source.group(1)):
            problems.append(f"final stage copies uv: COPY {copy}")
    if not any(re.search(r"--from=\S+.*/\.venv", c) for c in final.all("COPY")):
        problems.append("final stage does not take the virtualenv from a build stage")

    syncs = [run for s in earlier for run in s.all("RUN") if "uv sync" in run]
    locked = [
        run
        for run in syncs
        if re.search(r"--(frozen|locked)\b", run)
        and "--no-dev" in run
        and re.search(rf"--package[ =]{re.escape(service)}\b", run)
    ]
    if not locked:
        problems.append(f"no build stage runs `uv sync --frozen --no-dev --package {service}`")

    entrypoints = final.all("ENTRYPOINT")
    try:
        entrypoint = json.loads(entrypoints[-1]) if entrypoints else None
    except json.JSONDecodeError:
        entrypoint = None
    if entrypoint != [service]:
        problems.append(f"ENTRYPOINT must be the exec form [{service!r}] (signals reach Python)")
    if str(port) not in " ".join(final.all("EXPOSE")).split():
        problems.append(f"final stage does not EXPOSE {port}")
    return problems
