"""The support-tickets example's model, without a database: training, embedding, learning."""

from __future__ import annotations

import csv
import pickle
import sys
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pytest

# the example application is not an installed package: import it from examples/ as the server does
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
sys.path.insert(0, str(EXAMPLES))

from support_tickets import model  # noqa: E402
from support_tickets.triggers import TicketTriage  # noqa: E402

from motion_pg import Context, Event  # noqa: E402

DATA = EXAMPLES / "support_tickets" / "data"
CATEGORIES = ["account", "billing", "bug", "feature_request", "shipping"]


def _read(name: str) -> list[dict[str, Any]]:
    with open(DATA / name, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def history() -> list[dict[str, Any]]:
    return _read("tickets.csv")


@pytest.fixture(scope="module")
def incoming() -> list[dict[str, Any]]:
    return _read("incoming.csv")


@pytest.fixture(scope="module")
def hp() -> model.Hyperparams:
    return model.Hyperparams()


@pytest.fixture(scope="module")
def state(history: list[dict[str, Any]], hp: model.Hyperparams) -> Mapping[str, Any]:
    return MappingProxyType(model.build_state(history, hp))


def _predicted(state: Mapping[str, Any], tickets: list[dict[str, Any]]) -> list[str]:
    return [
        model.predict_ticket(state, t["subject"], t["body"])["predicted_category"] for t in tickets
    ]


def _right(state: Mapping[str, Any], tickets: list[dict[str, Any]], key: str) -> int:
    return sum(p == t[key] for p, t in zip(_predicted(state, tickets), tickets, strict=True))


def _corrections(state: Mapping[str, Any], incoming: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"subject": t["subject"], "body": t["body"], "category": t["true_category"]}
        for p, t in zip(_predicted(state, incoming), incoming, strict=True)
        if p != t["true_category"]
    ]


def test_shipped_data_is_well_formed(
    history: list[dict[str, Any]], incoming: list[dict[str, Any]]
) -> None:
    assert 150 <= len(history) <= 250
    assert sorted({t["category"] for t in history}) == CATEGORIES
    assert {t["true_category"] for t in incoming} <= set(CATEGORIES)
    for t in history + incoming:
        assert t["subject"].strip() and t["body"].strip()
        assert "|" not in t["subject"]  # the demo reads psql's aligned output


def test_trains_on_the_shipped_history(
    state: Mapping[str, Any], history: list[dict[str, Any]]
) -> None:
    assert state["classes"] == CATEGORIES
    assert state["trained_on"] == len(history)
    assert state["corrections"] == 0
    assert _right(state, history, "category") >= 0.95 * len(history)


def test_generalises_to_held_out_tickets(
    history: list[dict[str, Any]], hp: model.Hyperparams
) -> None:
    train = [t for i, t in enumerate(history) if i % 5]
    held_out = [t for i, t in enumerate(history) if not i % 5]
    assert _right(model.build_state(train, hp), held_out, "category") >= 0.7 * len(held_out)


def test_training_is_deterministic(history: list[dict[str, Any]], hp: model.Hyperparams) -> None:
    first, second = model.build_state(history, hp), model.build_state(history, hp)
    assert pickle.dumps(first) == pickle.dumps(second)


def test_state_pickles_small(state: Mapping[str, Any], incoming: list[dict[str, Any]]) -> None:
    data = pickle.dumps(dict(state), protocol=5)
    assert len(data) < 4_000_000
    restored = pickle.loads(data)
    assert _predicted(restored, incoming) == _predicted(state, incoming)


def test_prediction(state: Mapping[str, Any]) -> None:
    out = model.predict_ticket(
        state, "Charged twice for Plus", "Two payments on my card, refund one"
    )
    assert set(out) == {"predicted_category", "confidence", "embedding"}
    assert out["predicted_category"] == "billing"
    assert isinstance(out["confidence"], float) and 0.2 < out["confidence"] <= 1.0


def test_probabilities_match_scikit_learn(
    state: Mapping[str, Any], history: list[dict[str, Any]]
) -> None:
    features = model.featurize(state, history[:25])
    expected = state["model"].predict_proba(features)
    np.testing.assert_allclose(model.probabilities(state["model"], features), expected, atol=1e-12)


def test_embedding_is_64_unit_floats(state: Mapping[str, Any]) -> None:
    vector = model.predict_ticket(state, "Hub offline", "The hub LED blinks orange")["embedding"]
    assert vector.shape == (model.EMBEDDING_DIMS,) == (64,)
    assert vector.dtype == np.float32
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)


def test_embedding_neighbours_share_categories(
    state: Mapping[str, Any], history: list[dict[str, Any]]
) -> None:
    vectors = model.embed(model.featurize(state, history), state["projection"])
    labels = np.array([t["category"] for t in history])
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -np.inf)
    nearest = np.argsort(-similarity, axis=1)[:, :5]
    assert (labels[nearest] == labels[:, None]).mean() > 0.5  # chance is about 0.2


def test_embedding_basis_of_a_tiny_history_is_padded(hp: model.Hyperparams) -> None:
    tickets = [
        {"subject": "Refund", "body": "Please refund me", "category": "billing"},
        {"subject": "Crash", "body": "The app crashes", "category": "bug"},
        {"subject": "Unlabelled", "body": "No category yet", "category": None},
    ]
    state = model.build_state(tickets, hp)
    assert state["trained_on"] == 2
    assert state["projection"].shape == (64, model.FOLD_WIDTH)
    embedding = model.predict_ticket(state, "Refund", "money back")["embedding"]
    assert np.linalg.norm(embedding) == pytest.approx(1.0, abs=1e-5)


def test_predicting_does_not_change_the_state(
    state: Mapping[str, Any], incoming: list[dict[str, Any]]
) -> None:
    before = pickle.dumps(dict(state))
    _predicted(state, incoming)
    assert pickle.dumps(dict(state)) == before


def test_corrections_fix_the_incoming_tickets(
    state: Mapping[str, Any],
    history: list[dict[str, Any]],
    incoming: list[dict[str, Any]],
    hp: model.Hyperparams,
) -> None:
    seed_right = _right(state, incoming, "true_category")
    assert 0.5 * len(incoming) <= seed_right <= 0.75 * len(incoming)  # the demo has a story to tell

    corrections = _corrections(state, incoming)
    updates = model.learn_corrections(state, corrections, hp)
    assert updates is not None and set(updates) == {"model", "corrections"}
    assert updates["corrections"] == len(corrections)
    learnt = MappingProxyType({**state, **updates})

    assert _right(learnt, incoming, "true_category") == len(incoming) > seed_right
    assert _right(learnt, history, "category") >= _right(state, history, "category") - 2


def test_learning_leaves_the_old_state_untouched(
    state: Mapping[str, Any], incoming: list[dict[str, Any]], hp: model.Hyperparams
) -> None:
    before = pickle.dumps(dict(state))
    updates = model.learn_corrections(state, _corrections(state, incoming), hp)
    assert updates is not None and updates["model"] is not state["model"]
    assert pickle.dumps(dict(state)) == before


def test_unlabelled_tickets_teach_nothing(state: Mapping[str, Any], hp: model.Hyperparams) -> None:
    tickets = [{"subject": "Hello", "body": "Is anyone there?", "category": None}]
    assert model.learn_corrections(state, tickets, hp) is None


def test_an_unknown_category_needs_retraining(
    state: Mapping[str, Any], history: list[dict[str, Any]], hp: model.Hyperparams
) -> None:
    warranty = {
        "subject": "Warranty claim",
        "body": "Hub died after 13 months",
        "category": "warranty",
    }
    with pytest.raises(ValueError, match="warranty"):
        model.learn_corrections(state, [warranty], hp)
    updates = model.retrain(state, [*history, warranty], hp)
    assert updates["classes"] == sorted([*CATEGORIES, "warranty"])
    assert updates["trained_on"] == len(history) + 1


def test_hyperparams_from_params() -> None:
    hp = model.Hyperparams.from_params({"epochs": 7, "alpha": "0.001"})
    assert (hp.epochs, hp.alpha, hp.passes) == (7, 0.001, model.Hyperparams().passes)


class _Table:
    """``ctx.db`` over an in-memory table: answers the history query, records other statements."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.statements: list[tuple[str, Any]] = []

    def query(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        if sql.startswith("SELECT"):
            return self.rows
        self.statements.append((sql, params))
        return []


def test_the_trigger_class_without_a_database(
    history: list[dict[str, Any]], incoming: list[dict[str, Any]]
) -> None:
    trigger, params = TicketTriage(), MappingProxyType({"epochs": 20, "embed_existing": True})
    db = _Table([{"id": i + 1, **t} for i, t in enumerate(history)])
    state = MappingProxyType(trigger.setup(Context("ticket_triage", 0, {}, params, db)))
    [(update, (ids, vectors))] = db.statements
    assert update.startswith("UPDATE support.tickets") and ids == list(range(1, len(history) + 1))
    assert len(vectors) == len(history) and len(vectors[0].strip("[]").split(",")) == 64

    ctx = Context("ticket_triage", 1, state, params, db)
    rows = [
        {"id": i, "subject": t["subject"], "body": t["body"], "category": None}
        for i, t in enumerate(incoming)
    ]
    for row in rows:
        row.update(trigger.predict(row, ctx))
    events = [Event(i, "INSERT", "support.tickets", 2, dict(row)) for i, row in enumerate(rows)]
    wrong = [
        row
        for row, t in zip(rows, incoming, strict=True)
        if row["predicted_category"] != t["true_category"]
    ]
    for row in wrong:
        row["category"] = incoming[row["id"]]["true_category"]
        events.append(Event(len(events), "UPDATE", "support.tickets", 2, dict(row)))

    assert trigger.learn(events[: len(rows)], ctx) is None
    updates = trigger.learn(events, ctx)
    assert updates is not None and updates["corrections"] == len(wrong) > 0
    learnt = Context("ticket_triage", 2, MappingProxyType({**state, **updates}), params, db)
    assert all(
        trigger.predict(row, learnt)["predicted_category"] == t["true_category"]
        for row, t in zip(rows, incoming, strict=True)
    )
