"""Duplicate detection learns from agents' verdicts (decision 0053): verdicts stored as
labelled pairs with their signals, a refit from the corpus pairs plus every verdict, and
the model serving scores with (the newest accepted refit, else the shipped constants)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from escalation_service.bugs import repository
from escalation_service.bugs.embedding import EMBEDDING_MODEL
from escalation_service.bugs.learning import (
    RULE_LEVEL,
    Pair,
    data_version,
    load_corpus_pairs,
)
from escalation_service.bugs.refitting import fit_in_child
from escalation_service.bugs.schemas import (
    DuplicateModelOut,
    DuplicateRefitOut,
    DuplicateVerdictOut,
    Verdict,
)
from escalation_service.bugs.service.common import Context
from escalation_service.bugs.similarity import SHIPPED, SIGNALS, DuplicateModel
from escalation_service.models import Bug, DuplicateModelVersion, DuplicateVerdict
from servicekit.errors import Unprocessable
from servicekit.pagination import Page, PageParams


@dataclass(frozen=True)
class InUse:
    """The model serving scores with and its auto-link threshold."""

    model: DuplicateModel
    threshold: float
    row: DuplicateModelVersion | None = None


async def model_in_use(session: AsyncSession, *, default_threshold: float) -> InUse:
    """The newest accepted refit fitted with the current encoder, or the shipped constants
    with the configured threshold (a refit of another encoder's semantic signal is never
    served: its weights mean nothing on the new cosines, decision 0057).

    Read per call (one indexed row, ``ix_duplicate_models_accepted_seq``): filings are rare
    and wait for the filing lock anyway, and every replica then switches at the commit of
    a refit, with no poll and no cache to expire."""
    row = await repository.newest_model(session, encoder=EMBEDDING_MODEL)
    if row is None or row.threshold is None:
        return InUse(SHIPPED, default_threshold)
    model = DuplicateModel(
        version=row.version,
        weights={name: float(row.weights[name]) for name in SIGNALS},
        intercept=row.intercept,
        threshold=row.threshold,
    )
    return InUse(model, row.threshold, row)


def refuse_self(bug_id: uuid.UUID, other_bug_id: uuid.UUID) -> None:
    """A 422: a bug is never judged against itself."""
    if bug_id == other_bug_id:
        raise Unprocessable(
            "a bug cannot be judged against itself",
            code="verdict-on-itself",
            errors=[
                {
                    "field": "other_bug_id",
                    "in": "body",
                    "message": "the same bug as the path's",
                    "code": "verdict-on-itself",
                }
            ],
        )


async def record_verdict(
    session: AsyncSession,
    *,
    bugs: tuple[Bug, Bug],
    verdict: Verdict,
    source: str,
    ctx: Context,
    default_threshold: float,
) -> DuplicateVerdict:
    """Store the pair's verdict with its signals: those of the newer report against the
    older one (as filing compared them), whichever way round the agent named them."""
    first, second = bugs
    refuse_self(first.id, second.id)
    older, newer = sorted(bugs, key=lambda b: (b.created_at, b.number))
    signals = await repository.pair_signals(
        session,
        existing=await repository.probe_of_bug(session, older),
        new=await repository.probe_of_bug(session, newer),
    )
    in_use = await model_in_use(session, default_threshold=default_threshold)
    # stored in filing order: (created_at, number) never change, so a pair has one row
    return await repository.store_verdict(
        session,
        bug_a_id=older.id,
        bug_b_id=newer.id,
        verdict=verdict.value,
        signals=signals.vector(),
        score=round(signals.score(in_use.model), 4),
        model_version=in_use.model.version,
        encoder=EMBEDDING_MODEL,  # probe_of_bug gives the current encoder's vectors
        source=source,
        judged_by=ctx.actor_id,
        judged_at=ctx.now,
    )


async def verdict_out(session: AsyncSession, verdict: DuplicateVerdict) -> DuplicateVerdictOut:
    """One verdict as the API shows it (the newest refit's coverage read here)."""
    newest = await repository.newest_model(session, accepted_only=False)
    return _verdict_out(verdict, seen_through=newest.verdicts_through if newest is not None else 0)


def _verdict_out(verdict: DuplicateVerdict, *, seen_through: int) -> DuplicateVerdictOut:
    return DuplicateVerdictOut(
        bug_ids=[verdict.bug_a_id, verdict.bug_b_id],  # the older report first
        verdict=Verdict(verdict.verdict),
        signals=dict(zip(SIGNALS, verdict.signals, strict=True)),
        score=verdict.score,
        model_version=verdict.model_version,
        encoder=verdict.encoder,
        source="merge" if verdict.source == "merge" else "verdict",
        judged_by=verdict.judged_by,
        judged_at=verdict.judged_at,
        waiting_for_refit=verdict.revision > seen_through,
    )


async def verdict_page(
    session: AsyncSession, *, params: PageParams, bug_id: uuid.UUID | None
) -> Page[DuplicateVerdictOut]:
    rows, cursor = await repository.verdict_page(session, params=params, bug_id=bug_id)
    newest = await repository.newest_model(session, accepted_only=False)
    through = newest.verdicts_through if newest is not None else 0
    return Page[DuplicateVerdictOut](
        items=[_verdict_out(v, seen_through=through) for v in rows],
        next_cursor=cursor,
    )


@dataclass(frozen=True)
class RefitResult:
    row: DuplicateModelVersion
    created: bool


async def refit(
    session: AsyncSession,
    *,
    at: datetime,
    corpus: list[Pair] | None = None,
    level: float = RULE_LEVEL,
) -> RefitResult:
    """Fit the corpus pairs plus every verdict (in a child process), pick the threshold by
    the rule and record the fit as a version of its data. The same data gives the same
    version: nothing new is recorded. A fit the guard rejects is recorded (so the same data
    is not fitted again) and never served."""
    corpus = load_corpus_pairs() if corpus is None else corpus
    await current_verdict_signals(session)
    verdicts = await repository.all_verdicts(session)
    pairs = corpus + [
        Pair(
            id=f"verdict-{v.bug_a_id}-{v.bug_b_id}",
            signals=tuple(float(x) for x in v.signals),
            duplicate=v.verdict == Verdict.duplicate.value,
        )
        for v in verdicts
    ]
    version = data_version(pairs, level=level, encoder=EMBEDDING_MODEL)
    existing = await repository.model_version(session, version)
    if existing is not None:
        return RefitResult(existing, created=False)
    fit = await asyncio.to_thread(fit_in_child, pairs, level=level)
    row = DuplicateModelVersion(
        version=version,
        weights=fit.weights,
        intercept=fit.intercept,
        threshold=fit.threshold,
        precision=fit.precision,
        recall=fit.recall,
        corpus_pairs=len(corpus),
        verdicts=len(verdicts),
        verdicts_through=max((v.revision for v in verdicts), default=0),
        accepted=fit.accepted,
        rejection=fit.rejection,
        fit_seconds=round(fit.fit_seconds, 3),
        encoder=EMBEDDING_MODEL,
        created_at=at,
    )
    created = await repository.add_model(session, row)
    recorded = await repository.model_version(session, version)
    assert recorded is not None  # inserted now, or by a concurrent refit of the same data
    return RefitResult(recorded, created=created)


async def current_verdict_signals(session: AsyncSession) -> int:
    """Bring the verdicts stored under another encoder to the current one before a refit:
    their bugs re-embedded if ``reembed`` has not reached them yet, then their ``semantic``
    recomputed from the current embeddings (a verdict is an agent's judgement of two
    reports: it stays valid whatever the encoder; only its cosine changes). How many."""
    bug_ids = await repository.bugs_of_other_encoders_verdicts(session)
    if not bug_ids:
        return 0
    while await repository.reembed_batch(session, size=repository.REEMBED_BATCH, among=bug_ids):
        pass
    return await repository.recompute_verdict_semantics(session)


def refit_out(result: RefitResult) -> DuplicateRefitOut:
    row = result.row
    return DuplicateRefitOut(
        version=row.version,
        created=result.created,
        accepted=row.accepted,
        rejection=row.rejection,
        threshold=row.threshold,
        weights={name: round(float(row.weights[name]), 4) for name in SIGNALS},
        intercept=round(row.intercept, 4),
        in_sample_precision=row.precision,
        in_sample_recall=row.recall,
        corpus_pairs=row.corpus_pairs,
        verdicts=row.verdicts,
        fit_seconds=row.fit_seconds,
        encoder=row.encoder,
        created_at=row.created_at,
    )


async def model_info(session: AsyncSession, *, default_threshold: float) -> DuplicateModelOut:
    in_use = await model_in_use(session, default_threshold=default_threshold)
    latest = await repository.newest_model(session, accepted_only=False)
    total = await repository.verdicts_after(session, 0)
    waiting = await repository.verdicts_after(
        session, latest.verdicts_through if latest is not None else 0
    )
    row = in_use.row
    return DuplicateModelOut(
        version=in_use.model.version,
        threshold=in_use.threshold,
        weights={name: round(float(in_use.model.weights[name]), 4) for name in SIGNALS},
        intercept=round(in_use.model.intercept, 4),
        in_sample_precision=row.precision if row is not None else None,
        in_sample_recall=row.recall if row is not None else None,
        corpus_pairs=row.corpus_pairs if row is not None else None,
        verdicts_seen=row.verdicts if row is not None else 0,
        verdicts_waiting=waiting,
        verdicts_total=total,
        encoder=EMBEDDING_MODEL,
        created_at=row.created_at if row is not None else None,
        latest_refit=refit_out(RefitResult(latest, created=False)) if latest is not None else None,
    )
