-- predict: new tickets (and edited text), inside the writing transaction.
-- learn: in the fit worker, after an agent sets or corrects a category.
-- embed_existing: setup also embeds the tickets already in the table.
-- REFIT EVERY: setup retrains on the whole labelled history every night (a scheduled refit);
-- on_drift = 'alert': the worker profiles the routed columns against the history (motion.drift).
SELECT motion.exec($$
  CREATE MOTION TRIGGER ticket_triage
    ON support.tickets (subject, body) INFER predict NO FIT
    ON support.tickets (category) NO INFER FIT learn
    REFIT EVERY '1 day'
    USING 'support_tickets.triggers:TicketTriage'
    WITH (epochs = 20, alpha = 0.0001, passes = 3, embed_existing = true,
          on_drift = 'alert')
$$);
