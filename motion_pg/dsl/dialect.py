"""The ``motion`` sqlglot dialect: PostgreSQL plus the motion statements.

sqlglot registers the dialect under the name ``motion`` when this module is imported, so
``sqlglot.parse_one(sql, read="motion")`` works as well. Requires the pure-Python sqlglot build:
the compiled ``sqlglot[c]`` classes cannot be subclassed.
"""

from __future__ import annotations

from typing import ClassVar

from sqlglot.dialects.postgres import Postgres
from sqlglot.tokenizer_core import TokenType

from motion_pg.dsl.generator import MotionGenerator
from motion_pg.dsl.parser import MotionParser


class Motion(Postgres):
    """PostgreSQL with ``CREATE/ALTER/DROP MOTION TRIGGER`` and ``SHOW MOTION TRIGGERS``."""

    class Tokenizer(Postgres.Tokenizer):
        # Postgres tokenizes whatever follows SHOW as one opaque string (a "command"); the motion
        # dialect needs the words of SHOW MOTION TRIGGERS, so SHOW is tokenized like any keyword.
        COMMANDS: ClassVar[set[TokenType]] = Postgres.Tokenizer.COMMANDS - {TokenType.SHOW}

    Parser = MotionParser
    Generator = MotionGenerator
