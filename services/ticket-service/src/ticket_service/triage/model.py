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

Scikit-learn fits the model (``fitting``) in a child process; this module, which serves
every prediction, never imports it: importing scikit-learn alone costs ~100 MiB of memory,
which made the ticket-service idle at 2.3x a bare FastAPI process (decision 0031). What a
prediction needs of the fitted pipeline - the vocabularies, idf weights, coefficients and
the two analyzers - is plain data and a few lines here, held equal to scikit-learn's own
transform by a test.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from servicekit.processes import run_in_child
from ticket_service.triage.parameters import EVIDENCE_SIZE as EVIDENCE_SIZE
from ticket_service.triage.parameters import Block as Block
from ticket_service.triage.parameters import Evidence as Evidence
from ticket_service.triage.parameters import Example as Example
from ticket_service.triage.parameters import FittedParameters as FittedParameters
from ticket_service.triage.parameters import HyperParameters as HyperParameters
from ticket_service.triage.parameters import Prediction as Prediction
from ticket_service.triage.parameters import char_wb_ngrams as char_wb_ngrams
from ticket_service.triage.parameters import clean_text as clean_text
from ticket_service.triage.parameters import fingerprint as fingerprint
from ticket_service.triage.parameters import load_corpus as load_corpus
from ticket_service.triage.parameters import word_ngrams as word_ngrams


class TriageModel:
    """A fitted classifier; thread-safe for prediction (read-only)."""

    def __init__(self, *, version: str, params: FittedParameters) -> None:
        self.version = version
        self.params = params
        self.labels = params.labels
        self.trained_on = params.trained_on
        self.fit_seconds = params.fit_seconds
        self._coef = params.coef
        self._intercept = params.intercept
        self._blocks = params.blocks
        # feature index -> (its term, whether a character n-gram): the vocabularies' own
        # strings, formatted only when shown as evidence (a copy of ~50k names is MiBs)
        self._terms: list[str] = [""] * sum(len(b.vocabulary) for b in params.blocks)
        self._char_from = len(self._terms)
        for block in params.blocks:
            for term, index in block.vocabulary.items():
                self._terms[index + block.offset] = term
            if block.kind == "char":
                self._char_from = min(self._char_from, block.offset)

    def vectorize(self, subject: str, body: str) -> tuple[Any, Any]:
        """The feature indices and tf-idf values of one ticket, equal to scikit-learn's
        ``features.transform`` (a test holds them equal) without its per-call input
        validation, which alone costs ~3 ms - more than the whole budget of a ticket."""
        text = clean_text(subject, body)
        all_indices: list[Any] = []
        all_values: list[Any] = []
        for block in self._blocks:
            # counted in C (Counter over map): a ticket has hundreds of n-grams, and a
            # Python loop over them was an eighth of a ticket create's function calls
            counts: Counter[int | None] = Counter(map(block.vocabulary.get, block.analyze(text)))
            counts.pop(None, None)  # n-grams not in the vocabulary
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
        decision = self._coef[:, indices] @ values + self._intercept
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
        return [self.predict(subject, body).label for subject, body in texts]

    def _evidence(self, indices: Any, values: Any, klass: int) -> list[Evidence]:
        """The features of this text that pushed hardest towards the chosen class
        (tf-idf value x the class's weight), as readable phrases."""
        contributions = values * self._coef[klass][indices]
        top = np.argsort(contributions)[::-1][:EVIDENCE_SIZE]
        found: list[Evidence] = []
        for i in top:
            if contributions[i] <= 0:
                break
            index = int(indices[i])
            term = self._terms[index]
            found.append(
                Evidence(
                    feature=term if index < self._char_from else f"…{term.strip()}…",
                    weight=round(float(contributions[i]), 4),
                )
            )
        return found


# --- fitting, in a child process ----------------------------------------------------------


def _fit_parameters(examples: Sequence[Example], hyper: HyperParameters) -> FittedParameters:
    # Imported here, in the child process only: scikit-learn is ~100 MiB the serving
    # process does not carry (the reason for the child process, not an import cycle).
    from ticket_service.triage.fitting import fit_parameters

    return fit_parameters(examples, hyper)


@lru_cache(maxsize=2)
def _fitted(examples: tuple[Example, ...], hyper: HyperParameters) -> FittedParameters:
    """The same examples always give the same model: the current and the previous set
    are kept (every app of a test process, a refit of examples already fitted), not more -
    each holds the vocabularies and coefficients."""
    return run_in_child(_fit_parameters, examples, hyper)


def fit_model(
    examples: Sequence[Example],
    *,
    version: str | None = None,
    hyper: HyperParameters | None = None,
) -> TriageModel:
    """Fit in a child process (blocking: call it in a thread from async code) and return
    the model this process predicts with."""
    params = _fitted(tuple(examples), hyper or HyperParameters())
    return TriageModel(version=version or f"corpus-{fingerprint(examples)}", params=params)
