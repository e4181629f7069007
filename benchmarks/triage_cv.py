"""Choose the triage classifier's hyper-parameters by 5-fold cross-validation on the
training tickets only (the held-out part is never read here).

    uv run --frozen python -m benchmarks.triage_cv          # the search, best first
    uv run --frozen python -m benchmarks.triage_cv --quick  # only the configuration in use

Candidates are the model family the service ships (``ticket_service.triage.model``: TF-IDF
word and character n-grams, logistic regression by SGD), varying the regularisation, the
n-gram ranges, the character n-grams' minimum document frequency and class weighting. Every
candidate sees the same folds (stratified, fixed seed). The vectorizers are fitted on each
fold's training part only, as the service fits them on its examples; a candidate's score
is the mean over the folds. Printed: the candidates ranked by macro-F1 (then accuracy), and
for the configuration in use the cross-validated confusion matrix, the most confused pairs
and the review threshold the cross-validated confidences suggest.
"""

from __future__ import annotations

import argparse
import itertools
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC

from benchmarks.quality import cross_validated_confidence, fit_here, review_threshold, say, table
from ticket_service.triage import fitting
from ticket_service.triage.model import (
    Example,
    HyperParameters,
    clean_text,
    load_corpus,
)
from ticket_service.triage.parameters import SUBJECT_REPEATS as SUBJECT_REPEATS_IN_USE

# Four feature settings x ten linear-model settings: on the shared 2-core machine the
# vectorizers dominate (each setting is fitted five times), so their grid stays small.
ALPHAS = (1e-4, 2e-4, 3e-4, 5e-4, 1e-3)
SUBJECT_REPEATS = (0, 1, 2, 3)
WORD_NGRAMS = ((1, 2), (1, 3))
CHAR_NGRAMS = ((2, 5), (3, 5))
CHAR_MIN_DF = (2,)
CLASS_WEIGHTS = (None, "balanced")


def folds(examples: list[Example]) -> list[tuple[np.ndarray, np.ndarray]]:
    labels = [e.label for e in examples]
    return list(StratifiedKFold(5, shuffle=True, random_state=0).split(examples, labels))


@dataclass(frozen=True)
class Scored:
    hyper: HyperParameters
    accuracy: float
    macro_f1: float


def search(examples: list[Example], candidates: list[HyperParameters]) -> list[Scored]:
    """Cross-validated accuracy and macro-F1 of every candidate. The features depend only
    on the n-gram settings, so they are computed once per fold for those and shared by the
    candidates that differ only in the linear model."""
    texts = [clean_text(e.subject, e.body) for e in examples]
    labels = np.array([e.label for e in examples])
    splits = folds(examples)
    by_features: dict[tuple[object, ...], list[HyperParameters]] = {}
    for c in candidates:
        by_features.setdefault((c.word_ngrams, c.char_ngrams, c.char_min_df), []).append(c)
    results: list[Scored] = []
    for group in by_features.values():
        predicted = {c: np.empty(len(examples), dtype=object) for c in group}
        for fit_idx, test_idx in splits:
            union = fitting.features(group[0])
            train_matrix = union.fit_transform([texts[i] for i in fit_idx])
            test_matrix = union.transform([texts[i] for i in test_idx])
            for c in group:
                model = fitting.classifier(c)
                assert isinstance(model, SGDClassifier)
                model.fit(train_matrix, labels[fit_idx])
                predicted[c][test_idx] = model.predict(test_matrix)
        for c in group:
            results.append(
                Scored(
                    hyper=c,
                    accuracy=round(float(accuracy_score(labels, predicted[c])), 3),
                    macro_f1=round(float(f1_score(labels, predicted[c], average="macro")), 3),
                )
            )
    results.sort(key=lambda r: (-r.macro_f1, -r.accuracy))
    return results


def other_families(examples: list[Example]) -> list[list[str]]:
    """The brief's alternatives on the in-use features: multinomial logistic regression
    (lbfgs) and a linear SVM with calibrated probabilities, same folds."""
    texts = [clean_text(e.subject, e.body) for e in examples]
    labels = np.array([e.label for e in examples])
    candidates: dict[str, Any] = {
        f"LogisticRegression C={c:g}": lambda c=c: LogisticRegression(C=c, max_iter=2000)
        for c in (5.0, 20.0, 50.0)
    } | {
        f"calibrated LinearSVC C={c:g}": lambda c=c: CalibratedClassifierCV(LinearSVC(C=c), cv=3)
        for c in (0.5, 1.0)
    }
    predicted = {name: np.empty(len(examples), dtype=object) for name in candidates}
    for fit_idx, test_idx in folds(examples):
        union = fitting.features(HyperParameters())
        train_matrix = union.fit_transform([texts[i] for i in fit_idx])
        test_matrix = union.transform([texts[i] for i in test_idx])
        for name, make in candidates.items():
            predicted[name][test_idx] = (
                make().fit(train_matrix, labels[fit_idx]).predict(test_matrix)
            )
    return [
        [
            name,
            f"{accuracy_score(labels, p):.3f}",
            f"{f1_score(labels, p, average='macro'):.3f}",
        ]
        for name, p in predicted.items()
    ]


def subject_weighting(examples: list[Example]) -> list[list[str]]:
    """The in-use model with the subject line put in front of the body 0-3 times (the
    service uses ``parameters.SUBJECT_REPEATS``), same folds."""
    labels = np.array([e.label for e in examples])
    rows = []
    for repeats in SUBJECT_REPEATS:
        texts = [clean_text(e.subject, e.body, subject_repeats=repeats) for e in examples]
        predicted = np.empty(len(examples), dtype=object)
        for fit_idx, test_idx in folds(examples):
            union = fitting.features(HyperParameters())
            model = fitting.classifier(HyperParameters())
            model.fit(union.fit_transform([texts[i] for i in fit_idx]), labels[fit_idx])
            predicted[test_idx] = model.predict(union.transform([texts[i] for i in test_idx]))
        rows.append(
            [
                f"subject x{repeats}" + (" (in use)" if repeats == SUBJECT_REPEATS_IN_USE else ""),
                f"{accuracy_score(labels, predicted):.3f}",
                f"{f1_score(labels, predicted, average='macro'):.3f}",
            ]
        )
    return rows


def describe(h: HyperParameters) -> str:
    return (
        f"alpha={h.alpha:g} word={h.word_ngrams} char={h.char_ngrams} "
        f"min_df={h.char_min_df} class_weight={h.class_weight}"
    )


def in_use_report(examples: list[Example]) -> None:
    """The configuration the service ships: its CV confusion matrix, most confused pairs and
    the review threshold suggested by its cross-validated confidences."""
    labels = np.array([e.label for e in examples])
    predicted = np.empty(len(examples), dtype=object)
    for fit_idx, test_idx in folds(examples):
        model = fit_here([examples[i] for i in fit_idx])
        predicted[test_idx] = model.predict_many(
            [(examples[i].subject, examples[i].body) for i in test_idx]
        )
    names = sorted(set(labels))
    say(
        f"in use ({describe(HyperParameters())}): accuracy "
        f"{accuracy_score(labels, predicted):.3f}, macro-F1 "
        f"{f1_score(labels, predicted, average='macro'):.3f} on {len(examples)} training tickets"
    )
    short = [n.replace("access/", "a/")[:10] for n in names]
    matrix = confusion_matrix(labels, predicted, labels=names)
    table([["", *short]] + [[short[i], *map(str, row)] for i, row in enumerate(matrix)])
    pairs = Counter(
        " <-> ".join(sorted((str(t), str(p))))
        for t, p in zip(labels, predicted, strict=True)
        if t != p
    )
    say("most confused: " + ", ".join(f"{k} {v}" for k, v in pairs.most_common(8)))
    confidence, right = cross_validated_confidence(examples)
    # the review floor's rule (docs/triage.md): the lowest floor at which the auto-triaged
    # tickets are right >= 93 %; the neighbouring targets show what a stricter one costs
    for target in (0.90, 0.93, 0.95):
        floor = review_threshold(confidence, right, target)
        kept = confidence >= floor
        say(
            f"review threshold for {target:.0%} accuracy of the auto-triaged: {floor} "
            f"({kept.mean():.1%} triaged automatically, {right[kept].mean():.3f} right)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="only the configuration in use")
    parser.add_argument(
        "--families",
        action="store_true",
        help="also other linear models on the same features, and the subject's weight",
    )
    args = parser.parse_args()
    examples = load_corpus()
    if args.families:
        table(
            [
                ["other model family (in-use features)", "accuracy", "macro-F1"],
                *other_families(examples),
            ]
        )
        say()
        table(
            [["subject line (in-use model)", "accuracy", "macro-F1"], *subject_weighting(examples)]
        )
        say()
    if not args.quick:
        base = HyperParameters()
        candidates = [
            replace(base, alpha=a, word_ngrams=w, char_ngrams=c, char_min_df=m, class_weight=k)
            for a, w, c, m, k in itertools.product(
                ALPHAS, WORD_NGRAMS, CHAR_NGRAMS, CHAR_MIN_DF, CLASS_WEIGHTS
            )
        ]
        results = search(examples, candidates)
        rows = [["candidate", "accuracy", "macro-F1"]]
        rows += [[describe(r.hyper), str(r.accuracy), str(r.macro_f1)] for r in results[:15]]
        table(rows)
        say()
    in_use_report(examples)


if __name__ == "__main__":
    main()
