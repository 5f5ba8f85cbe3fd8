"""The motion trigger of the support-tickets application: triage on INSERT, learn from corrections."""

from __future__ import annotations

from typing import Any

import motion_pg
from motion_pg import Context, Event

from . import model

HISTORY = "SELECT id, subject, body, category FROM support.tickets ORDER BY id"
EMBED_EXISTING = (
    "UPDATE support.tickets AS t SET embedding = v.embedding::vector "
    "FROM unnest($1::bigint[], $2::text[]) AS v(id, embedding) WHERE t.id = v.id"
)


class TicketTriage(motion_pg.Trigger):
    """Predicts a ticket's category, confidence and embedding; learns from agents' corrections.

    ``predict`` (the infer of the ``subject, body`` route) fills ``predicted_category``,
    ``confidence`` and ``embedding`` inside the INSERT's transaction. ``learn`` (the fit of the
    ``category`` route) runs in the worker after an agent sets or changes a ticket's ``category``
    and makes a version whose classifier has learnt from those tickets.

    Params (``WITH (...)``): ``epochs`` and ``alpha`` of the initial training, ``passes`` and
    ``correction_weight`` of learning from corrections, ``hash_bits`` of the feature space,
    ``features`` (``'words+chars'``, the default, or ``'words'``: the shadow variant's), and
    ``embed_existing``: when true, setup also writes the ``embedding`` of the tickets already in
    the table, so similarity search covers the history (and, after a REFIT, every stored embedding
    comes from the new basis).
    """

    def setup(self, ctx: Context) -> dict[str, Any]:
        """Train version 1: the classifier on the labelled tickets, the embedding on all of them."""
        tickets = ctx.db.query(HISTORY)
        state = model.build_state(tickets, model.Hyperparams.from_params(ctx.params))
        if ctx.params.get("embed_existing") is True and tickets:
            vectors = model.embed(model.featurize(state, tickets), state["projection"])
            ctx.db.query(
                EMBED_EXISTING,
                [[int(t["id"]) for t in tickets], [model.vector_literal(v) for v in vectors]],
            )
        return state

    def predict(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        """The predicted category, its probability and the ticket's embedding."""
        return model.predict_ticket(ctx.state, row["subject"] or "", row["body"] or "")

    def learn(self, events: list[Event], ctx: Context) -> dict[str, Any] | None:
        """Learn from the tickets whose category was set; ``None`` (no new version) if none was.

        A category the model has never seen cannot be added to an online linear model, so the
        classifier is then retrained on the whole labelled history, corrections included.
        """
        hp = model.Hyperparams.from_params(ctx.params)
        labelled = [e.row for e in events if e.row.get("category")]
        if not {t["category"] for t in labelled} <= set(ctx.state["classes"]):
            updates = model.retrain(ctx.state, ctx.db.query(HISTORY), hp)
            return {**updates, "corrections": int(ctx.state["corrections"]) + len(labelled)}
        return model.learn_corrections(ctx.state, labelled, hp)
