-- The support-tickets relation. `motion-pg install` has installed pgvector already.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE SCHEMA support;

CREATE TABLE support.tickets (
    id                 serial PRIMARY KEY,
    subject            text NOT NULL,
    body               text NOT NULL,
    category           text,          -- set by an agent: the label the model learns from
    predicted_category text,          -- inferred on INSERT by the ticket_triage motion trigger
    confidence         real,
    embedding          vector(64),
    created_at         timestamptz NOT NULL DEFAULT now()
);
