"""Drift profiles: what each routed column's data looked like (the reference, from the data setup
saw or pinned by the user) against what recent events look like (the current profile), tested
with the field's defaults (:mod:`.stats`).

- :mod:`.profile` builds a column's profile (numeric, categorical, text, vector) from its values;
- :mod:`.stats` compares two profiles (scipy);
- :mod:`.store` reads the data and writes profiles, figures and the trigger's drift status.

Modules are imported by name: scipy (:mod:`.stats`) loads only where drift is tested (the worker,
the CLI), never in the database backend, which only builds reference profiles at CREATE and REFIT.
"""
