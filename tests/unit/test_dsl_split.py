"""split_statements: top-level semicolons only, exact positions, motion detection."""

from __future__ import annotations

import pytest

from motion_pg.dsl import Chunk, parse, split_statements
from motion_pg.errors import MotionSyntaxError

MIXED = """\
-- a migration mixing plain SQL and motion statements; semicolons everywhere
CREATE TABLE items (id serial PRIMARY KEY, "odd;name" text, value int);
INSERT INTO items (value, "odd;name") VALUES (1, 'a;b'), (2, 'it''s;'), (3, E'x\\';y');
/* block ; comment /* nested ; */ still comment ; */
CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END; $$;
CREATE FUNCTION g() RETURNS text LANGUAGE sql AS $body$ SELECT 'x;y'; $body$;
  create motion trigger doubler
    on items (value) -- trailing comment; here
    using 'apps.basic:Doubler';
CREATE RULE r AS ON INSERT TO items DO ALSO (NOTIFY a; NOTIFY b);
SHOW MOTION TRIGGERS
"""


def test_mixed_file() -> None:
    chunks = split_statements(MIXED)
    assert [(c.line, c.col, c.is_motion) for c in chunks] == [
        (2, 1, False),
        (3, 1, False),
        (5, 1, False),
        (6, 1, False),
        (7, 3, True),
        (10, 1, False),
        (11, 1, True),
    ]
    assert (
        chunks[0].text == 'CREATE TABLE items (id serial PRIMARY KEY, "odd;name" text, value int)'
    )
    assert chunks[1].text.endswith("(3, E'x\\';y')")
    assert chunks[2].text.endswith("AS $$ BEGIN RETURN 1; END; $$")
    assert chunks[3].text.endswith("$body$ SELECT 'x;y'; $body$")
    assert chunks[4].text == (
        "create motion trigger doubler\n"
        "    on items (value) -- trailing comment; here\n"
        "    using 'apps.basic:Doubler'"
    )
    assert chunks[5].text.endswith("(NOTIFY a; NOTIFY b)")
    assert chunks[6].text == "SHOW MOTION TRIGGERS"
    lines = MIXED.split("\n")
    for chunk in chunks:  # each position is where the chunk's text starts in the file
        assert lines[chunk.line - 1][chunk.col - 1 :].startswith(chunk.text.split("\n")[0])


def test_positions_map_errors_into_the_file() -> None:
    text = "SELECT 1;\n\n  CREATE MOTION TRIGGER t ON x USING 'a:B' WITH (k = f());  SHOW MOTION TRIGGERS x"
    errors = []
    for chunk in split_statements(text):
        if chunk.is_motion:
            try:
                parse(chunk.text)
            except MotionSyntaxError as e:
                errors.append(e.shifted(chunk.line - 1, chunk.col - 1))
    assert [(e.line, e.col, e.token) for e in errors] == [(3, 54, "f"), (3, 82, "x")]
    line = text.split("\n")[2]
    assert line[53] == "f" and line[81] == "x"


def test_second_line_errors_keep_their_column() -> None:
    text = "SELECT 1; CREATE MOTION TRIGGER t\n  ON x INFERR p USING 'a:B'"
    (chunk,) = [c for c in split_statements(text) if c.is_motion]
    with pytest.raises(MotionSyntaxError) as info:
        parse(chunk.text)
    e = info.value.shifted(chunk.line - 1, chunk.col - 1)
    assert (e.line, e.col, e.token) == (2, 8, "INFERR")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        (" ; ;\n-- nothing\n;/* x */", []),
        ("SELECT 1", [Chunk("SELECT 1", 1, 1, False)]),
        ("SELECT 1;", [Chunk("SELECT 1", 1, 1, False)]),
        ("SELECT ';'; SELECT 2", [Chunk("SELECT ';'", 1, 1, False), Chunk("SELECT 2", 1, 13, False)]),
        ('SELECT ";"', [Chunk('SELECT ";"', 1, 1, False)]),
        ("SELECT 'a''; b'", [Chunk("SELECT 'a''; b'", 1, 1, False)]),
        ("SELECT e'\\\\'; SELECT 2", [Chunk("SELECT e'\\\\'", 1, 1, False), Chunk("SELECT 2", 1, 15, False)]),
        ("SELECT 'a\\'; SELECT 2", [Chunk("SELECT 'a\\'", 1, 1, False), Chunk("SELECT 2", 1, 14, False)]),
        ("SELECT $1; SELECT 2", [Chunk("SELECT $1", 1, 1, False), Chunk("SELECT 2", 1, 12, False)]),
        ("SELECT a$b; SELECT 2", [Chunk("SELECT a$b", 1, 1, False), Chunk("SELECT 2", 1, 13, False)]),
        ("SELECT $a$ ; $b$ ; $a$", [Chunk("SELECT $a$ ; $b$ ; $a$", 1, 1, False)]),
        ("SELECT 1 -- x; y\n; SELECT 2", [Chunk("SELECT 1", 1, 1, False), Chunk("SELECT 2", 2, 3, False)]),
        ("\r\n\tSELECT 1;\r\n\tSELECT 2", [Chunk("SELECT 1", 2, 2, False), Chunk("SELECT 2", 3, 2, False)]),
        ("SELECT (1; 2); SELECT 3)", [Chunk("SELECT (1; 2)", 1, 1, False), Chunk("SELECT 3)", 1, 16, False)]),
        ("SELECT 'never closed; SELECT 2", [Chunk("SELECT 'never closed; SELECT 2", 1, 1, False)]),
        ("SELECT 1 /* never closed; SELECT 2", [Chunk("SELECT 1 /* never closed; SELECT 2", 1, 1, False)]),
        ("SELECT café; SELECT 2", [Chunk("SELECT café", 1, 1, False), Chunk("SELECT 2", 1, 14, False)]),
    ],
)  # fmt: skip
def test_cuts(text: str, expected: list[Chunk]) -> None:
    assert split_statements(text) == expected


@pytest.mark.parametrize(
    ("text", "is_motion"),
    [
        ("CREATE MOTION TRIGGER t ON x USING 'a:B'", True),
        ("create or replace motion trigger t on x using 'a:B'", True),
        ("/* c */ Create -- c\n Or Replace /* c */ Motion Trigger t", True),
        ("ALTER MOTION TRIGGER t REFIT", True),
        ("DROP MOTION TRIGGER t", True),
        ("SHOW MOTION TRIGGERS", True),
        ("CREATE MOTION TRIGER t", True),  # a typo still reaches the motion parser's error
        ("CREATE TABLE motion (a int)", False),
        ("CREATE OR REPLACE FUNCTION motion() RETURNS int AS 'select 1' LANGUAGE sql", False),
        ('CREATE "MOTION" TRIGGER t', False),
        ("SHOW motion", False),  # a setting named motion, not the motion statement
        ("SHOW motion.import_paths", False),
        ("SHOW search_path", False),
        ("SELECT 'CREATE MOTION TRIGGER'", False),
        ("DROP TABLE motion", False),
    ],
)
def test_motion_detection(text: str, is_motion: bool) -> None:
    (chunk,) = split_statements(text)
    assert chunk.is_motion is is_motion


def test_chunk_is_frozen() -> None:
    (chunk,) = split_statements("SELECT 1")
    with pytest.raises(AttributeError):
        chunk.text = "x"  # type: ignore[misc]
