"""The operation ids of the four services, one line per operation
(``<service> <operationId> <METHOD> <path>``), as committed in
``tests/api_style/operation_ids.txt`` so that a rename is a visible diff.

``uv run --frozen python -m scripts.operation_ids --write`` regenerates the file;
``tests/api_style/test_operation_ids.py`` fails while it is stale.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from fastapi import FastAPI

SNAPSHOT = Path(__file__).resolve().parent.parent / "tests" / "api_style" / "operation_ids.txt"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def documents() -> dict[str, dict[str, Any]]:
    """Each service's OpenAPI document, built from its ``create_app`` (no I/O)."""
    from billing_service.main import create_app as billing_app
    from escalation_service.main import create_app as escalation_app
    from onboarding_service.main import create_app as onboarding_app
    from ticket_service.main import create_app as ticket_app

    apps: dict[str, Callable[[], FastAPI]] = {
        "ticket-service": ticket_app,
        "billing-service": billing_app,
        "onboarding-service": onboarding_app,
        "escalation-service": escalation_app,
    }
    return {name: make().openapi() for name, make in apps.items()}


def lines(docs: dict[str, dict[str, Any]]) -> list[str]:
    out = []
    for service, doc in docs.items():
        for path, item in doc["paths"].items():
            for method, op in item.items():
                if method in HTTP_METHODS:
                    out.append(f"{service} {op.get('operationId')} {method.upper()} {path}")
    return sorted(out)


def render(docs: dict[str, dict[str, Any]]) -> str:
    return "\n".join(lines(docs)) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help=f"rewrite {SNAPSHOT.name}")
    args = parser.parse_args()
    text = render(documents())
    if args.write:
        SNAPSHOT.write_text(text)
        sys.stdout.write(f"wrote {SNAPSHOT} ({text.count(chr(10))} operations)\n")
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
