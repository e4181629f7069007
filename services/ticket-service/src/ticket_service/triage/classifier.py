"""The process's triage classifier: which fitted model is current, how a prediction becomes
routing, and when a ticket goes to the ``triage_review`` queue instead.

One instance per process, created by the app (and the CLI) and handed to every database
session through ``session.info`` - the same way the survey links travel - so requests and
consumers classify with the in-memory model and never read the database for it. The model
is fitted once at startup from the shipped corpus plus the agents' examples named by the
latest ``triage_models`` row, and fitted again when a refit records a newer row (a
background poll, see ``main``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from sqlalchemy.ext.asyncio import AsyncSession

from supportops_events.tickets import TicketPriority
from ticket_service.categories import AccessSubcategory, Category
from ticket_service.models import TriageModelVersion
from ticket_service.triage import repository
from ticket_service.triage.model import Example, TriageModel, fingerprint, fit_model, load_corpus

CLASSIFIER_INFO_KEY = "ticket_service.triage_classifier"
REVIEW_QUEUE = "triage_review"
REVIEW_TAG = "needs_triage_review"
DEFAULT_REVIEW_BELOW = 0.25
logger = logging.getLogger("ticket_service.triage")


@dataclass(frozen=True)
class Routing:
    queue: str
    priority: TicketPriority
    tags: tuple[str, ...] = ()


# Where a confidently classified ticket goes: the routing the seeded keyword rules gave each
# category, so switching from rules to the classifier changes who decides, not where to.
ROUTING: dict[str, Routing] = {
    "access/mfa": Routing("access", TicketPriority.high, ("access", "mfa")),
    "access/activation": Routing("access", TicketPriority.normal, ("access", "activation")),
    "access/inactive": Routing("access", TicketPriority.high, ("access", "inactive")),
    "access/login": Routing("access", TicketPriority.high, ("access", "login")),
    "billing": Routing("billing", TicketPriority.normal, ("billing",)),
    "subscription": Routing("billing", TicketPriority.normal, ("subscription",)),
    "compliance_guidance": Routing("compliance", TicketPriority.normal, ("compliance_guidance",)),
    "sales": Routing("sales", TicketPriority.normal, ("sales",)),
    "onboarding": Routing("onboarding", TicketPriority.normal, ("onboarding",)),
    "potential_bug": Routing("support", TicketPriority.high, ("potential_bug",)),
    "feature_request": Routing("product", TicketPriority.low, ("feature_request",)),
    "platform_question": Routing("support", TicketPriority.normal, ("platform_question",)),
    "other": Routing("support", TicketPriority.normal, ("other",)),
}


def split_label(label: str) -> tuple[Category, AccessSubcategory | None]:
    category, _, sub = label.partition("/")
    return Category(category), AccessSubcategory(sub) if sub else None


def join_label(category: str | None, subcategory: str | None) -> str:
    if category == Category.access.value and subcategory:
        return f"{category}/{subcategory}"
    return category or Category.other.value


class TriageClassifier:
    """Holds the current fitted model; swapping it is one attribute assignment."""

    def __init__(self, *, review_below: float = DEFAULT_REVIEW_BELOW) -> None:
        self.review_below = review_below
        self._model: TriageModel | None = None
        self._corpus: list[Example] | None = None
        self._lock = asyncio.Lock()

    @property
    def corpus(self) -> list[Example]:
        if self._corpus is None:
            self._corpus = load_corpus()
        return self._corpus

    @property
    def model(self) -> TriageModel:
        """The current model; fitted from the corpus alone on first use if no refresh ran
        (a script or a test that never started the app)."""
        if self._model is None:
            self._model = fit_model(self.corpus)
        return self._model

    def use(self, model: TriageModel) -> None:
        self._model = model

    async def refresh(self, session: AsyncSession) -> bool:
        """Fit the model the latest ``triage_models`` row names, unless it is current.
        True when the model changed."""
        async with self._lock:
            latest = await repository.latest_model_version(session)
            if latest is None:
                if self._model is None:
                    self._model = await asyncio.to_thread(fit_model, self.corpus)
                    return True
                return False
            if self._model is not None and self._model.version == latest.version:
                return False
            examples = self.corpus + await agent_examples(session, through=latest.examples_through)
            fitted = await asyncio.to_thread(fit_model, examples, version=latest.version)
            self._model = fitted
            logger.info("triage model %s in use (%d examples)", fitted.version, len(examples))
            return True


async def agent_examples(session: AsyncSession, *, through: int | None = None) -> list[Example]:
    return [
        Example(subject=e.subject, body=e.body, label=e.label)
        for e in await repository.examples(session, through=through)
    ]


@dataclass(frozen=True)
class RefitResult:
    version: str
    created: bool
    corpus_examples: int
    agent_examples: int
    fit_seconds: float


async def refit(
    session: AsyncSession, *, classifier: TriageClassifier, at: datetime
) -> RefitResult:
    """Fit corpus + every agent example, record the version (processes pick it up), and
    use it here. Idempotent: the same examples give the same version, recorded once."""
    through = await repository.last_example_seq(session)
    learned = await agent_examples(session, through=through)
    examples = classifier.corpus + learned
    version = f"tfidf-sgd-{fingerprint(examples)}"
    existing = await repository.model_version(session, version)
    model = await asyncio.to_thread(fit_model, examples, version=version)
    classifier.use(model)
    if existing is not None:
        return RefitResult(version, False, len(classifier.corpus), len(learned), model.fit_seconds)
    await repository.add_model_version(
        session,
        TriageModelVersion(
            version=version,
            examples_through=through,
            corpus_examples=len(classifier.corpus),
            agent_examples=len(learned),
            fit_seconds=round(model.fit_seconds, 3),
            trained_at=at,
        ),
    )
    return RefitResult(version, True, len(classifier.corpus), len(learned), model.fit_seconds)


def classifier_of(session: AsyncSession) -> TriageClassifier:
    """The classifier the app put into the session's info; a session made elsewhere (a
    script) gets one of its own, fitted from the corpus on first use."""
    found = session.info.get(CLASSIFIER_INFO_KEY)
    if isinstance(found, TriageClassifier):
        return found
    return _standalone()


@cache
def _standalone() -> TriageClassifier:
    return TriageClassifier()
