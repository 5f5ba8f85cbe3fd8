-- A variant run as a live experiment: the same class on word n-grams only (no character n-grams),
-- as a shadow of ticket_triage. It infers on the same new tickets in the same INSERT, into
-- motion.shadow_outputs (never into the row), and learns from the same corrections with its own
-- state. `motion-pg compare ticket_triage ticket_triage_words --label category` reports how they
-- differ; ALTER MOTION TRIGGER ticket_triage_words PROMOTE would make it serve.
SELECT motion.exec($$
  CREATE MOTION TRIGGER ticket_triage_words
    ON support.tickets (subject, body) INFER predict NO FIT
    ON support.tickets (category) NO INFER FIT learn
    SHADOW OF ticket_triage
    USING 'support_tickets.triggers:TicketTriage'
    WITH (epochs = 20, alpha = 0.0001, passes = 3, features = 'words')
$$);
