"""The scored triage classifier: TF-IDF word and character n-grams and a linear model.

Pure and synchronous (no database): fitting takes well under a second on the shipped
corpus, classifying one ticket about a millisecond. The rules (``engine``) stay explicit
overrides evaluated before this model; this model decides when no enabled rule matches.

Why these choices:
- word uni/bigrams carry the meaning ("card declined", "text message"); character n-grams
  inside word boundaries survive the typos and inflections customers write ("pasword",
  "deactivated"/"deactivation");
- ``SGDClassifier(loss="log_loss")`` is logistic regression fitted by SGD: it gives class
  probabilities (the confidence) and per-feature weights (the evidence) and fits in a
  fraction of a second, where the lbfgs solver took seconds on the same data;
- greetings, signatures and quoted replies are cut before featurising: they are the same in
  every category and only add noise (see :func:`clean_text`).

The model is fully determined by its training examples (fixed ``random_state``), so every
process that fits the same examples holds the same model; the version names those examples.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import SGDClassifier
from sklearn.pipeline import FeatureUnion

CORPUS_RESOURCE = "tickets-train.jsonl"
MAX_CLASSIFIED_CHARS = 5_000
EVIDENCE_SIZE = 5

# A line that starts a signature, a closing or a quoted earlier message: the rest of the
# body is the same boilerplate in every category.
_TAIL = re.compile(
    r"^(?:--\s*$|thanks\b|thank you\b|many thanks|best\b|kind regards|regards\b|cheers\b|br$"
    r"|sent from my|-{3,}\s*original message|on .{3,80} wrote:|this e-?mail (?:and|is))",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class HyperParameters:
    """What 5-fold cross-validation on the training tickets chose (``benchmarks/triage_cv.py``
    re-runs the search); the defaults are the model the service fits."""

    alpha: float = 5e-4
    word_ngrams: tuple[int, int] = (1, 3)
    char_ngrams: tuple[int, int] = (2, 5)
    char_min_df: int = 2
    # "balanced": the labels are uneven (44-154 training tickets); without it the big
    # labels win the borderline cases (CV macro-F1 0.875 -> 0.897 with it)
    class_weight: str | None = "balanced"


@dataclass(frozen=True)
class Example:
    """One labelled ticket; ``label`` is ``category`` or ``category/subcategory``."""

    subject: str
    body: str
    label: str


@dataclass(frozen=True)
class Evidence:
    feature: str
    weight: float


@dataclass(frozen=True)
class Prediction:
    label: str
    confidence: float
    evidence: list[Evidence]
    runner_up: str | None
    runner_up_confidence: float


def clean_text(subject: str, body: str) -> str:
    """The words that carry the request: subject (twice: it is the customer's summary) and
    the body up to its signature, without quoted earlier messages."""
    kept: list[str] = []
    for line in body[:MAX_CLASSIFIED_CHARS].splitlines():
        stripped = line.strip()
        if stripped.startswith(">"):
            continue
        if kept and _TAIL.match(stripped):
            break
        kept.append(line)
    return f"{subject}\n{subject}\n" + "\n".join(kept)


def load_corpus() -> list[Example]:
    """The training part of the labelled corpus, shipped inside this package."""
    text = resources.files("ticket_service.triage.corpus").joinpath(CORPUS_RESOURCE).read_text()
    return [
        Example(subject=row["subject"], body=row["body"], label=row["label"])
        for row in (json.loads(line) for line in text.splitlines() if line.strip())
    ]


def fingerprint(examples: Iterable[Example]) -> str:
    """A short hash of the training examples: the same examples, the same model."""
    digest = hashlib.sha256()
    for e in examples:
        digest.update(json.dumps([e.subject, e.body, e.label]).encode())
    return digest.hexdigest()[:10]


class TriageModel:
    """A fitted classifier; thread-safe for prediction (read-only after ``fit``)."""

    def __init__(self, *, version: str, hyper: HyperParameters | None = None) -> None:
        hyper = hyper or HyperParameters()
        self.version = version
        self.hyper = hyper
        self.features = FeatureUnion(
            [
                (
                    "word",
                    TfidfVectorizer(
                        ngram_range=hyper.word_ngrams, sublinear_tf=True, strip_accents="unicode"
                    ),
                ),
                (
                    "char",
                    TfidfVectorizer(
                        analyzer="char_wb",
                        ngram_range=hyper.char_ngrams,
                        sublinear_tf=True,
                        min_df=hyper.char_min_df,
                    ),
                ),
            ]
        )
        self.classifier = SGDClassifier(
            loss="log_loss",
            alpha=hyper.alpha,
            max_iter=50,
            tol=1e-4,
            random_state=0,
            class_weight=hyper.class_weight,
        )
        self.labels: list[str] = []
        self.fit_seconds = 0.0
        self.trained_on = 0
        self._names: Any = None
        self._blocks: list[_Block] = []

    def fit(self, examples: Sequence[Example]) -> TriageModel:
        started = time.perf_counter()
        texts = [clean_text(e.subject, e.body) for e in examples]
        matrix = self.features.fit_transform(texts)
        self.classifier.fit(matrix, [e.label for e in examples])
        self.labels = [str(c) for c in self.classifier.classes_]
        self._names = self.features.get_feature_names_out()
        self._blocks = _blocks(self.features)
        self.trained_on = len(examples)
        self.fit_seconds = time.perf_counter() - started
        return self

    def vectorize(self, subject: str, body: str) -> tuple[Any, Any]:
        """The feature indices and tf-idf values of one ticket, equal to
        ``features.transform`` (a test holds them equal) without its per-call input
        validation, which alone costs ~3 ms - more than the whole budget of a ticket."""
        text = clean_text(subject, body)
        all_indices: list[Any] = []
        all_values: list[Any] = []
        for block in self._blocks:
            counts: dict[int, int] = {}
            for term in block.analyze(text):
                index = block.vocabulary.get(term)
                if index is not None:
                    counts[index] = counts.get(index, 0) + 1
            if not counts:
                continue
            indices = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
            tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
            values = (1.0 + np.log(tf)) * block.idf[indices]  # sublinear_tf, then idf
            values /= np.linalg.norm(values)  # each vectorizer normalises its own block
            all_indices.append(indices + block.offset)
            all_values.append(values)
        if not all_indices:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        return np.concatenate(all_indices), np.concatenate(all_values)

    def probabilities(self, indices: Any, values: Any) -> Any:
        """``predict_proba`` of the one-vs-rest logistic model, without its validation."""
        decision = self.classifier.coef_[:, indices] @ values + self.classifier.intercept_
        scores = 1.0 / (1.0 + np.exp(-decision))
        return scores / scores.sum()

    def predict(self, subject: str, body: str) -> Prediction:
        indices, values = self.vectorize(subject, body)
        probabilities = self.probabilities(indices, values)
        order = np.argsort(probabilities)[::-1]
        best = int(order[0])
        second = int(order[1]) if len(order) > 1 else None
        return Prediction(
            label=self.labels[best],
            confidence=round(float(probabilities[best]), 4),
            evidence=self._evidence(indices, values, best),
            runner_up=self.labels[second] if second is not None else None,
            runner_up_confidence=round(float(probabilities[second]), 4) if second else 0.0,
        )

    def predict_many(self, texts: Sequence[tuple[str, str]]) -> list[str]:
        rows = self.features.transform([clean_text(s, b) for s, b in texts])
        return [str(label) for label in self.classifier.predict(rows)]

    def _evidence(self, indices: Any, values: Any, klass: int) -> list[Evidence]:
        """The features of this text that pushed hardest towards the chosen class
        (tf-idf value x the class's weight), as readable phrases."""
        contributions = values * self.classifier.coef_[klass][indices]
        top = np.argsort(contributions)[::-1][:EVIDENCE_SIZE]
        found: list[Evidence] = []
        for i in top:
            if contributions[i] <= 0:
                break
            name = str(self._names[indices[i]])
            kind, _, feature = name.partition("__")
            found.append(
                Evidence(
                    feature=feature if kind == "word" else f"…{feature.strip()}…",
                    weight=round(float(contributions[i]), 4),
                )
            )
        return found


@dataclass(frozen=True)
class _Block:
    """One fitted vectorizer of the union, what ``vectorize`` needs of it."""

    analyze: Any
    vocabulary: dict[str, int]
    idf: Any
    offset: int


def _blocks(union: FeatureUnion) -> list[_Block]:
    blocks: list[_Block] = []
    offset = 0
    for _, vectorizer in union.transformer_list:
        blocks.append(
            _Block(
                analyze=vectorizer.build_analyzer(),
                vocabulary=dict(vectorizer.vocabulary_),
                idf=vectorizer.idf_,
                offset=offset,
            )
        )
        offset += len(vectorizer.vocabulary_)
    return blocks


def fit_model(
    examples: Sequence[Example],
    *,
    version: str | None = None,
    hyper: HyperParameters | None = None,
) -> TriageModel:
    return TriageModel(version=version or f"corpus-{fingerprint(examples)}", hyper=hyper).fit(
        examples
    )
