"""The motion DSL: parse and generate the motion statements (DESIGN §2.1).

- :func:`parse` turns text holding one or more motion statements into
  :mod:`motion_pg.dsl.spec` dataclasses, raising :class:`motion_pg.errors.MotionSyntaxError` with
  the line and column of the offending token;
- :func:`generate` writes a dataclass back as canonical text (``parse(generate(s)) == [s]``);
- :func:`split_statements` cuts a file that mixes ordinary SQL and motion statements into
  :class:`Chunk` s at its top-level semicolons.

Parsing goes through the ``motion`` sqlglot dialect (:mod:`motion_pg.dsl.dialect`), a subclass of
sqlglot's Postgres dialect with its own expression nodes; sqlglot's ``Command`` fallback is never
accepted.
"""

from __future__ import annotations

from motion_pg.dsl.api import generate, parse
from motion_pg.dsl.split import Chunk, split_statements

__all__ = ["Chunk", "generate", "parse", "split_statements"]
