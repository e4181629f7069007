"""Fitting the triage model with scikit-learn: the pipeline, and the plain data a
prediction needs of it (:class:`~ticket_service.triage.model.FittedParameters`).

Imported only where a model is fitted - the child process ``model.fit_model`` starts, the
benchmarks and the tests - never by the serving process (scikit-learn's ~100 MiB; see
``model``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import SGDClassifier
from sklearn.pipeline import FeatureUnion

from ticket_service.triage.parameters import (
    Block,
    Example,
    FittedParameters,
    HyperParameters,
    clean_text,
)


def features(hyper: HyperParameters) -> FeatureUnion:
    """TF-IDF of word n-grams and of character n-grams inside word boundaries."""
    return FeatureUnion(
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


def classifier(hyper: HyperParameters) -> SGDClassifier:
    """Logistic regression (one-vs-rest) fitted by SGD, with a fixed random state."""
    return SGDClassifier(
        loss="log_loss",
        alpha=hyper.alpha,
        max_iter=50,
        tol=1e-4,
        random_state=0,
        class_weight=hyper.class_weight,
    )


def fit_pipeline(
    examples: Sequence[Example], hyper: HyperParameters
) -> tuple[FeatureUnion, SGDClassifier]:
    union = features(hyper)
    model = classifier(hyper)
    model.fit(
        union.fit_transform([clean_text(e.subject, e.body) for e in examples]),
        [e.label for e in examples],
    )
    return union, model


def parameters_of(
    union: FeatureUnion, model: SGDClassifier, *, trained_on: int, fit_seconds: float
) -> FittedParameters:
    blocks: list[Block] = []
    offset = 0
    for kind, vectorizer in union.transformer_list:
        blocks.append(
            Block(
                kind=kind,
                ngrams=tuple(vectorizer.ngram_range),
                vocabulary={str(k): int(v) for k, v in vectorizer.vocabulary_.items()},
                idf=vectorizer.idf_,
                offset=offset,
            )
        )
        offset += len(vectorizer.vocabulary_)
    return FittedParameters(
        labels=[str(c) for c in model.classes_],
        blocks=blocks,
        # float32 halves the largest array the serving process holds; the probabilities
        # stay equal to scikit-learn's to ~1e-7 (the fast-path test)
        coef=model.coef_.astype(np.float32),
        intercept=model.intercept_,
        trained_on=trained_on,
        fit_seconds=fit_seconds,
    )


def fit_parameters(examples: Sequence[Example], hyper: HyperParameters) -> FittedParameters:
    started = time.perf_counter()
    union, model = fit_pipeline(examples, hyper)
    return parameters_of(
        union, model, trained_on=len(examples), fit_seconds=time.perf_counter() - started
    )
