"""The ticket triage model, without a database: features, classifier, embedding and state.

A ticket's subject and body are hashed into word and character n-grams. Hashing is stateless, so
nothing has to be fitted before the first prediction and unseen vocabulary still lands somewhere.

- A linear classifier trained by stochastic gradient descent on the log loss gives the category and
  its probability, and learns incrementally (``partial_fit``) from an agent's corrections.
- A 64-dimensional latent semantic basis, learnt once from the ticket history, gives L2-normalised
  embeddings for pgvector similarity search. Fits leave it alone, so stored embeddings stay
  comparable with new ones.

The state is a dict of picklable scikit-learn, NumPy and plain Python values. Its keys are separate
so that a fit, which replaces only ``model`` and ``corrections``, stores little.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import SGDClassifier
from threadpoolctl import threadpool_limits

EMBEDDING_DIMS = 64
FOLD_WIDTH = 2048
SEED = 0

_WORDS = HashingVectorizer(ngram_range=(1, 2)).build_analyzer()
_CHARS = HashingVectorizer(analyzer="char_wb", ngram_range=(3, 5)).build_analyzer()


@dataclass(frozen=True)
class Hyperparams:
    """Training knobs, read from the motion trigger's ``WITH (...)`` params."""

    epochs: int = 20
    alpha: float = 1e-4
    passes: int = 3
    correction_weight: float = 1.5
    hash_bits: int = 15
    features: str = "words+chars"  # or "words": word n-grams only (the shadow variant's)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Hyperparams:
        """The hyperparameters in ``params``, with defaults for those it does not set."""
        d = cls()
        return cls(
            epochs=int(params.get("epochs", d.epochs)),
            alpha=float(params.get("alpha", d.alpha)),
            passes=int(params.get("passes", d.passes)),
            correction_weight=float(params.get("correction_weight", d.correction_weight)),
            hash_bits=int(params.get("hash_bits", d.hash_bits)),
            features=str(params.get("features", d.features)),
        )


def ticket_text(subject: str, body: str) -> str:
    """The text a ticket is featurized from."""
    return f"{subject}. {body}"


def ticket_tokens(text: str) -> list[str]:
    """Word uni- and bigrams and character 3-5-grams (within words) of a ticket's text."""
    return [*_WORDS(text), *_CHARS(text)]


def word_tokens(text: str) -> list[str]:
    """Word uni- and bigrams of a ticket's text only."""
    return list(_WORDS(text))


ANALYZERS = {"words+chars": ticket_tokens, "words": word_tokens}


def make_featurizer(hash_bits: int, features: str = "words+chars") -> HashingVectorizer:
    """A stateless featurizer hashing the ticket's tokens (:data:`ANALYZERS`: ``features``) into
    ``2**hash_bits`` columns."""
    if features not in ANALYZERS:
        raise ValueError(f"features must be one of {', '.join(ANALYZERS)}, not {features!r}")
    return HashingVectorizer(
        analyzer=ANALYZERS[features], n_features=2**hash_bits, alternate_sign=False
    )


def fold(features: sparse.csr_matrix, width: int = FOLD_WIDTH) -> np.ndarray:
    """Dense rows ``width`` wide: hashed column ``j`` is added into column ``j % width``.

    With power-of-two widths this equals hashing the tokens into ``width`` columns directly.
    """
    rows = np.zeros((features.shape[0], width))
    for i in range(features.shape[0]):
        start, end = features.indptr[i], features.indptr[i + 1]
        rows[i] = np.bincount(
            features.indices[start:end] % width, weights=features.data[start:end], minlength=width
        )
    return rows


def fit_projection(features: sparse.csr_matrix, dims: int = EMBEDDING_DIMS) -> np.ndarray:
    """A ``dims x FOLD_WIDTH`` latent semantic basis of the tickets' folded features (float32).

    The top right singular vectors; rows beyond the rank of a small history stay zero.
    """
    folded = fold(features)
    basis = np.zeros((dims, folded.shape[1]), dtype=np.float32)
    if folded.shape[0] > 1:
        svd = TruncatedSVD(n_components=min(dims, folded.shape[0] - 1), random_state=SEED)
        with threadpool_limits(limits=1, user_api="blas"):  # threads only slow matrices this small
            components = svd.fit(folded).components_
        basis[: components.shape[0]] = components
    return basis


def embed(features: sparse.csr_matrix, projection: np.ndarray) -> np.ndarray:
    """Unit-length ``float32`` embeddings, one row per feature row (all zeros for an empty text)."""
    width = projection.shape[1]
    dense = np.empty((features.shape[0], projection.shape[0]), dtype=np.float32)
    for i in range(features.shape[0]):
        start, end = features.indptr[i], features.indptr[i + 1]
        dense[i] = projection[:, features.indices[start:end] % width] @ features.data[start:end]
    norms = np.linalg.norm(dense, axis=1, keepdims=True)
    return np.divide(dense, norms, out=np.zeros_like(dense), where=norms > 0)


def vector_literal(vector: np.ndarray) -> str:
    """``vector`` in pgvector's text form, ``[x1,x2,...]``."""
    return "[" + ",".join(f"{x:.7g}" for x in vector.tolist()) + "]"


def train(features: sparse.csr_matrix, labels: Sequence[str], hp: Hyperparams) -> SGDClassifier:
    """A classifier trained from scratch on labelled features; its classes are the labels seen."""
    if len(set(labels)) < 2:
        raise ValueError("training needs labelled tickets of at least two categories")
    model = SGDClassifier(
        loss="log_loss", alpha=hp.alpha, max_iter=hp.epochs, tol=None, random_state=SEED
    )
    model.fit(features, np.asarray(labels))
    return model


def update(
    model: SGDClassifier, features: sparse.csr_matrix, labels: Sequence[str], hp: Hyperparams
) -> SGDClassifier:
    """A copy of ``model`` that has also learnt from these labelled features; ``model`` is untouched.

    Raises ``ValueError`` for a label outside the model's classes: an online linear model cannot
    grow a class, so retrain with :func:`train` then.
    """
    unknown = set(labels) - set(model.classes_)
    if unknown:
        raise ValueError(f"unknown categories {sorted(unknown)}; known: {list(model.classes_)}")
    new = copy.deepcopy(model)
    y = np.asarray(labels)
    weights = np.full(len(labels), hp.correction_weight)
    for _ in range(hp.passes):
        new.partial_fit(features, y, sample_weight=weights)
    return new


def probabilities(model: SGDClassifier, features: sparse.csr_matrix) -> np.ndarray:
    """``model.predict_proba(features)``, computed without its per-call overhead.

    One-vs-rest logistic scores normalised to sum to one, as scikit-learn does for ``log_loss``;
    only the weights of each row's non-zero features are read.
    """
    coef, intercept = model.coef_, model.intercept_
    scores = np.empty((features.shape[0], coef.shape[0]))
    for i in range(features.shape[0]):
        start, end = features.indptr[i], features.indptr[i + 1]
        scores[i] = coef[:, features.indices[start:end]] @ features.data[start:end]
    positive = 1.0 / (1.0 + np.exp(-(scores + intercept)))
    if coef.shape[0] == 1:
        return np.hstack([1.0 - positive, positive])
    total = positive.sum(axis=1, keepdims=True)
    return np.divide(
        positive, total, out=np.full_like(positive, 1 / coef.shape[0]), where=total > 0
    )


def classify(model: SGDClassifier, features: sparse.csr_matrix) -> list[tuple[str, float]]:
    """The most probable category of each feature row and its probability."""
    proba = probabilities(model, features)
    best = proba.argmax(axis=1)
    return [(str(model.classes_[i]), float(p[i])) for i, p in zip(best, proba, strict=True)]


def featurize(state: Mapping[str, Any], tickets: Sequence[Mapping[str, Any]]) -> sparse.csr_matrix:
    """The feature rows of tickets with ``subject`` and ``body``."""
    texts = [ticket_text(t["subject"], t["body"]) for t in tickets]
    return state["featurizer"].transform(texts)


def build_state(tickets: Iterable[Mapping[str, Any]], hp: Hyperparams) -> dict[str, Any]:
    """The first state from tickets with ``subject``, ``body`` and ``category`` (possibly None).

    The classifier learns from the tickets that have a category, the embedding from all of them.
    """
    rows = list(tickets)
    labelled = [t for t in rows if t.get("category")]
    featurizer = make_featurizer(hp.hash_bits, hp.features)
    features = featurize({"featurizer": featurizer}, rows)
    model = train(
        features[[i for i, t in enumerate(rows) if t.get("category")]],
        [t["category"] for t in labelled],
        hp,
    )
    return {
        "featurizer": featurizer,
        "projection": fit_projection(features),
        "model": model,
        "classes": [str(c) for c in model.classes_],
        "trained_on": len(labelled),
        "corrections": 0,
    }


def predict_ticket(state: Mapping[str, Any], subject: str, body: str) -> dict[str, Any]:
    """``predicted_category``, ``confidence`` and ``embedding`` of one ticket; reads ``state`` only."""
    features = featurize(state, [{"subject": subject, "body": body}])
    [(category, confidence)] = classify(state["model"], features)
    return {
        "predicted_category": category,
        "confidence": confidence,
        "embedding": embed(features, state["projection"])[0],
    }


def learn_corrections(
    state: Mapping[str, Any], tickets: Sequence[Mapping[str, Any]], hp: Hyperparams
) -> dict[str, Any] | None:
    """State updates after learning from the tickets that have a category; ``None`` if none has.

    ``state`` is left as it was. Raises ``ValueError`` for a category outside ``state["classes"]``.
    """
    rows = [t for t in tickets if t.get("category")]
    if not rows:
        return None
    features = featurize(state, rows)
    model = update(state["model"], features, [t["category"] for t in rows], hp)
    return {"model": model, "corrections": int(state["corrections"]) + len(rows)}


def retrain(
    state: Mapping[str, Any], tickets: Sequence[Mapping[str, Any]], hp: Hyperparams
) -> dict[str, Any]:
    """State updates with a classifier trained from scratch on the tickets that have a category.

    For a category the serving model does not know. The featurizer and the embedding basis stay,
    so embeddings already stored remain comparable.
    """
    labelled = [t for t in tickets if t.get("category")]
    model = train(featurize(state, labelled), [t["category"] for t in labelled], hp)
    return {
        "model": model,
        "classes": [str(c) for c in model.classes_],
        "trained_on": len(labelled),
    }
