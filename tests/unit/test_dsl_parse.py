"""parse() and generate() on hand-written statements: meaning, canonical text, errors."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable

import pytest
import sqlglot
import sqlglot.parser
import sqlglot.tokenizer_core
from sqlglot import exp
from sqlglot.tokenizer_core import TokenType

from motion_pg.dsl import generate, parse
from motion_pg.dsl.dialect import Motion
from motion_pg.dsl.nodes import MotionCreate
from motion_pg.dsl.parser import MotionParser
from motion_pg.dsl.spec import (
    AlterMotionTrigger,
    CreateMotionTrigger,
    DropMotionTrigger,
    PinVersion,
    Refit,
    RelationName,
    Reload,
    RollbackToVersion,
    Route,
    SetEnabled,
    SetParams,
    ShowMotionTriggers,
    Statement,
    Unpin,
)
from motion_pg.errors import MotionSyntaxError

ITEMS = RelationName("items")

# (text, the statement it means, its canonical text)
CASES: list[tuple[str, Statement, str]] = [
    (
        "CREATE MOTION TRIGGER doubler ON items USING 'pkg.mod:Cls'",
        CreateMotionTrigger("doubler", (Route(ITEMS),), "pkg.mod:Cls"),
        "CREATE MOTION TRIGGER doubler ON items USING 'pkg.mod:Cls'",
    ),
    (
        "create or replace motion trigger if not exists Doubler on Public.Items (Value, b)"
        " infer Predict no fit using 'pkg.mod:Cls';",
        CreateMotionTrigger(
            "doubler",
            (Route(RelationName("items", "public"), ("value", "b"), infer="Predict", no_fit=True),),
            "pkg.mod:Cls",
            or_replace=True,
            if_not_exists=True,
        ),
        "CREATE OR REPLACE MOTION TRIGGER IF NOT EXISTS doubler ON public.items (value, b)"
        " INFER Predict NO FIT USING 'pkg.mod:Cls'",
    ),
    (
        "CREATE MOTION TRIGGER doubler ON public.items (value) INFER predict NO FIT"
        " ON \"Other\" FIT learn USING 'pkg.mod:Cls'"
        " WITH (on_error = 'skip', k = 3, f = 1.5, b = TRUE, n = NULL)",
        CreateMotionTrigger(
            "doubler",
            (
                Route(RelationName("items", "public"), ("value",), infer="predict", no_fit=True),
                Route(RelationName("Other"), fit="learn"),
            ),
            "pkg.mod:Cls",
            {"on_error": "skip", "k": 3, "f": 1.5, "b": True, "n": None},
        ),
        "CREATE MOTION TRIGGER doubler ON public.items (value) INFER predict NO FIT"
        " ON \"Other\" FIT learn USING 'pkg.mod:Cls'"
        " WITH (on_error = 'skip', k = 3, f = 1.5, b = TRUE, n = NULL)",
    ),
    (  # quoted names everywhere, FIT before INFER, NO INFER, three routes, spread over lines
        'CREATE MOTION TRIGGER "My Trigger"\n'
        '  ON "My Schema"."My Table" ("A", "b""c") FIT "Fit It" NO INFER\n'
        "  ON s.t NO INFER NO FIT\n"
        '  ON "select" ("from") INFER "infer"\n'
        "  USING 'apps.x:Y'\n"
        "  WITH (\"Quoted Key\" = 'it''s', neg = -7, negf = -0.25, big = 123456789012345678901234,"
        " e = 1e-7, half = .5, t = true, f = False, nothing = null)",
        CreateMotionTrigger(
            "My Trigger",
            (
                Route(
                    RelationName("My Table", "My Schema"), ("A", 'b"c'), fit="Fit It", no_infer=True
                ),
                Route(RelationName("t", "s"), no_infer=True, no_fit=True),
                Route(RelationName("select"), ("from",), infer="infer"),
            ),
            "apps.x:Y",
            {
                "Quoted Key": "it's",
                "neg": -7,
                "negf": -0.25,
                "big": 123456789012345678901234,
                "e": 1e-7,
                "half": 0.5,
                "t": True,
                "f": False,
                "nothing": None,
            },
        ),
        'CREATE MOTION TRIGGER "My Trigger" ON "My Schema"."My Table" ("A", "b""c")'
        ' NO INFER FIT "Fit It" ON s.t NO INFER NO FIT ON "select" ("from") INFER infer'
        " USING 'apps.x:Y' WITH (\"Quoted Key\" = 'it''s', neg = -7, negf = -0.25,"
        " big = 123456789012345678901234, e = 1e-07, half = 0.5, t = TRUE, f = FALSE,"
        " nothing = NULL)",
    ),
    (  # other spellings of string literals; backslashes are literal in standard strings
        "CREATE MOTION TRIGGER t ON x USING $$a.b:C$$"
        " WITH (p = E'tab\\there', q = 'back\\slash', r = $tag$dollar ' \" ; $tag$)",
        CreateMotionTrigger(
            "t",
            (Route(RelationName("x")),),
            "a.b:C",
            {"p": "tab\there", "q": "back\\slash", "r": "dollar ' \" ; "},
        ),
        "CREATE MOTION TRIGGER t ON x USING 'a.b:C'"
        " WITH (p = 'tab\there', q = 'back\\slash', r = 'dollar '' \" ; ')",
    ),
    (  # non-reserved keywords and grammar words are fine as unquoted names
        "CREATE MOTION TRIGGER trigger ON motion.infer (value, type, name, key, no, fit)"
        " INFER no FIT fit USING 'a:B' WITH (set = 1, version = 2)",
        CreateMotionTrigger(
            "trigger",
            (
                Route(
                    RelationName("infer", "motion"),
                    ("value", "type", "name", "key", "no", "fit"),
                    infer="no",
                    fit="fit",
                ),
            ),
            "a:B",
            {"set": 1, "version": 2},
        ),
        "CREATE MOTION TRIGGER trigger ON motion.infer (value, type, name, key, no, fit)"
        " INFER no FIT fit USING 'a:B' WITH (set = 1, version = 2)",
    ),
    (
        "ALTER MOTION TRIGGER doubler SET (k = 4, on_error = 'raise')",
        AlterMotionTrigger("doubler", SetParams({"k": 4, "on_error": "raise"})),
        "ALTER MOTION TRIGGER doubler SET (k = 4, on_error = 'raise')",
    ),
    (
        "alter motion trigger Doubler rollback to version 12",
        AlterMotionTrigger("doubler", RollbackToVersion(12)),
        "ALTER MOTION TRIGGER doubler ROLLBACK TO VERSION 12",
    ),
    (
        "alter motion trigger Doubler pin version 3",
        AlterMotionTrigger("doubler", PinVersion(3)),
        "ALTER MOTION TRIGGER doubler PIN VERSION 3",
    ),
    (
        'ALTER MOTION TRIGGER "D" unpin',
        AlterMotionTrigger("D", Unpin()),
        'ALTER MOTION TRIGGER "D" UNPIN',
    ),
    (
        "Alter Motion Trigger doubler Refit",
        AlterMotionTrigger("doubler", Refit()),
        "ALTER MOTION TRIGGER doubler REFIT",
    ),
    (
        "alter motion trigger doubler reload",
        AlterMotionTrigger("doubler", Reload()),
        "ALTER MOTION TRIGGER doubler RELOAD",
    ),
    (
        'ALTER MOTION TRIGGER "D" ENABLE',
        AlterMotionTrigger("D", SetEnabled(True)),
        'ALTER MOTION TRIGGER "D" ENABLE',
    ),
    (
        "ALTER MOTION TRIGGER d disable",
        AlterMotionTrigger("d", SetEnabled(False)),
        "ALTER MOTION TRIGGER d DISABLE",
    ),
    (
        "DROP MOTION TRIGGER doubler",
        DropMotionTrigger("doubler"),
        "DROP MOTION TRIGGER doubler",
    ),
    (
        'drop motion trigger if exists "Dou bler"',
        DropMotionTrigger("Dou bler", if_exists=True),
        'DROP MOTION TRIGGER IF EXISTS "Dou bler"',
    ),
    (
        "DROP MOTION TRIGGER if",  # IF without EXISTS is the name
        DropMotionTrigger("if"),
        "DROP MOTION TRIGGER if",
    ),
    (
        "/* leading */ SHOW -- inline\n MOTION TRIGGERS ;",
        ShowMotionTriggers(),
        "SHOW MOTION TRIGGERS",
    ),
]


@pytest.mark.parametrize(("text", "statement", "canonical"), CASES)
def test_meaning_and_canonical_text(text: str, statement: Statement, canonical: str) -> None:
    assert parse(text) == [statement]
    assert generate(statement) == canonical
    assert parse(canonical) == [statement]
    assert generate(parse(canonical)[0]) == canonical


def test_param_types_survive() -> None:
    (stmt,) = parse("CREATE MOTION TRIGGER t ON x USING 'a:B' WITH (i = 1, f = 1.0, b = TRUE)")
    assert isinstance(stmt, CreateMotionTrigger)
    assert [type(v) for v in stmt.params.values()] == [int, float, bool]


def test_several_statements() -> None:
    text = "SHOW MOTION TRIGGERS;\nDROP MOTION TRIGGER a ; ; ALTER MOTION TRIGGER b REFIT;"
    assert parse(text) == [
        ShowMotionTriggers(),
        DropMotionTrigger("a"),
        AlterMotionTrigger("b", Refit()),
    ]


def test_quoting_only_where_needed() -> None:
    route = Route(RelationName("Mixed", "public"), ("ok_1", "with space", "user", "_x"))
    stmt = CreateMotionTrigger("x1", (route,), "a:B", {"Key": 1, "table": 2})
    assert generate(stmt) == (
        'CREATE MOTION TRIGGER x1 ON public."Mixed" (ok_1, "with space", "user", _x)'
        ' USING \'a:B\' WITH ("Key" = 1, "table" = 2)'
    )


@pytest.mark.parametrize(
    "bad",
    [
        CreateMotionTrigger("t", (), "a:B"),
        CreateMotionTrigger("", (Route(ITEMS),), "a:B"),
        CreateMotionTrigger("t", (Route(ITEMS, infer="f", no_infer=True),), "a:B"),
        CreateMotionTrigger("t", (Route(ITEMS, columns=()),), "a:B"),
        CreateMotionTrigger("t", (Route(ITEMS, columns=("a", "a")),), "a:B"),
        CreateMotionTrigger("t", (Route(ITEMS),), "a:B", {"x": float("nan")}),
        CreateMotionTrigger("t", (Route(ITEMS),), "a:B", {"x": [1]}),  # type: ignore[dict-item]
        AlterMotionTrigger("t", RollbackToVersion(0)),
        AlterMotionTrigger("t", PinVersion(0)),
        AlterMotionTrigger("t", SetParams({})),
    ],
)
def test_generate_refuses_what_no_text_spells(bad: Statement) -> None:
    with pytest.raises(ValueError):
        generate(bad)


# (text, message start, line, col, token)
ERRORS: list[tuple[str, str, int, int, str | None]] = [
    (
        "CREATE MOTION TRIGGER t\n  ON items INFERR predict USING 'a:B'",
        "expected INFER, FIT, ON or USING",
        2, 12, "INFERR",
    ),
    (
        "CREATE MOTION TRIGGER t ON items (a) INFER p",
        "expected FIT, ON or USING, found end of statement",
        1, 45, None,
    ),
    ("CREATE MOTION TRIGGER t ON items USING pkg", "expected a string literal", 1, 40, "pkg"),
    (
        "CREATE MOTION TRIGGER t ON items USING 'a:B' WITH (k = now())",
        "param k must be a literal (string, number, boolean or NULL)",
        1, 56, "now",
    ),
    (
        "CREATE MOTION TRIGGER t ON items USING 'a:B' WITH (k = 1 + 2)",
        "param k must be a literal (string, number, boolean or NULL)",
        1, 56, "1",
    ),
    (
        "CREATE MOTION TRIGGER t ON items USING 'a:B' WITH (k = other_column)",
        "param k must be a literal",
        1, 56, "other_column",
    ),
    (
        "CREATE MOTION TRIGGER t ON items USING 'a:B' WITH (k = 'x'::text)",
        "param k must be a literal",
        1, 56, "'x'",
    ),
    ("CREATE MOTION TRIGGER t ON items USING 'a:B' WITH (k = -'x')", "param k", 1, 56, "-"),
    (
        "CREATE MOTION TRIGGER t ON items USING 'a:B' WITH (k = 1 j = 2)",
        "expected ',' or ')'",
        1, 58, "j",
    ),
    (
        "CREATE MOTION TRIGGER t ON items USING 'a:B\n",
        "unterminated string literal",
        1, 40, "'a:B\n",
    ),
    ('DROP MOTION TRIGGER "abc', "unterminated quoted identifier", 1, 21, '"abc'),
    ("SHOW MOTION TRIGGERS /* never closed", "unterminated /* comment", 1, 22, "/* never closed"),
    ("SHOW MOTION TRIGGERS extra", "expected end of statement", 1, 22, "extra"),
    ("CREATE MOTION TRIGGER t ON x USING 'a:B' garbage", "expected WITH or end", 1, 42, "garbage"),
    ("", "no motion statement", 1, 1, None),
    ("  -- only a comment\n ; ", "no motion statement", 1, 1, None),
    (
        "CREATE MOTION TRIGGER t ON x USING 'a:B' WITH (k = 1, K = 2)",
        'parameter "k" given twice',
        1, 55, "K",
    ),
    (
        "CREATE MOTION TRIGGER t ON x (a, b, A) USING 'a:B'",
        'column "a" appears twice',
        1, 37, "A",
    ),
    (
        "CREATE MOTION TRIGGER t ON x INFER a NO INFER USING 'a:B'",
        "route has both INFER and NO INFER",
        1, 38, "NO",
    ),
    ("CREATE MOTION TRIGGER t ON x FIT a FIT b USING 'a:B'", "FIT given twice", 1, 36, "FIT"),
    ("CREATE MOTION TRIGGER t ON x NO FITT USING 'a:B'", "expected INFER or FIT after NO", 1, 33,
     "FITT"),
    ("CREATE MOTION TRIGGER t USING 'a:B'", "expected ON", 1, 25, "USING"),
    ("CREATE MOTION TRIGER t ON x USING 'a:B'", "expected TRIGGER after MOTION", 1, 15, "TRIGER"),
    ("CREATE MOTION TRIGGER ON x USING 'a:B'", "expected a trigger name, found reserved word ON",
     1, 23, "ON"),
    ("CREATE MOTION TRIGGER t ON a.b.c USING 'a:B'", "relation names have at most two parts",
     1, 31, "."),
    ("CREATE MOTION TRIGGER t ON x () USING 'a:B'", "expected a column name", 1, 31, ")"),
    ("CREATE MOTION TRIGGER t ON x USING 'a:B' WITH ()", "expected a parameter name", 1, 48, ")"),
    ("CREATE MOTION TRIGGER t ON x USING 'a:B' WITH k = 1", "expected '(' after WITH", 1, 47,
     "k"),
    ("CREATE MOTION TRIGGER t ON x USING 'a:B' WITH (k 1)", "expected '=' after parameter k",
     1, 50, "1"),
    ("CREATE MOTION TRIGGER t ON x USING 'a:B' WITH (k = 1e999)", "number 1e999 is out of range",
     1, 52, "1e999"),
    ('DROP MOTION TRIGGER ""', "zero-length quoted identifier", 1, 21, '""'),
    ("ALTER MOTION TRIGGER t ROLLBACK TO VERSION 0", "version numbers start at 1", 1, 44, "0"),
    ("ALTER MOTION TRIGGER t ROLLBACK TO VERSION -1", "expected a version number", 1, 44, "-"),
    ("ALTER MOTION TRIGGER t ROLLBACK VERSION 2", "expected TO after ROLLBACK", 1, 33, "VERSION"),
    ("ALTER MOTION TRIGGER t RENAME TO u", "expected SET, ROLLBACK TO VERSION, REFIT, RELOAD, "
     "ENABLE, DISABLE, PIN VERSION, UNPIN, PROMOTE or BACKFILL", 1, 24, "RENAME"),
    ("ALTER MOTION TRIGGER t PIN 2", "expected VERSION after PIN", 1, 28, "2"),
    ("ALTER MOTION TRIGGER t PIN VERSION 0", "version numbers start at 1", 1, 36, "0"),
    ("ALTER MOTION TRIGGER t PIN VERSION x", "expected a version number", 1, 36, "x"),
    ("ALTER MOTION TRIGGER t UNPIN 2", "expected end of statement", 1, 30, "2"),
    ("ALTER MOTION TRIGGER t SET ()", "expected a parameter name", 1, 29, ")"),
    ("SELECT 1", "not a motion statement", 1, 1, "SELECT"),
    ("CREATE TABLE t (a int)", "not a motion statement: expected MOTION after CREATE", 1, 8,
     "TABLE"),
    ("SHOW MOTION TRIGGERS;\n  INSERT INTO t VALUES (1)", "not a motion statement", 2, 3, "INSERT"),
    ("SHOW MOTION TRIGGERS; DROP MOTION TRIGGER", "expected a trigger name, found end", 1, 42,
     None),
    ("DROP MOTION TRIGGER x'zz'", "invalid token", 1, 21, "x'zz'"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "message", "line", "col", "token"), ERRORS)
def test_errors_point_at_the_offending_token(
    text: str, message: str, line: int, col: int, token: str | None
) -> None:
    with pytest.raises(MotionSyntaxError) as info:
        parse(text)
    error = info.value
    assert error.message.startswith(message), error.message
    assert (error.line, error.col, error.token) == (line, col, token)
    assert error.message[:1].islower() or error.message.split()[0].isupper()
    assert not error.message.endswith(".")


def test_error_messages_read_well() -> None:
    with pytest.raises(MotionSyntaxError) as info:
        parse("CREATE MOTION TRIGGER select ON t USING 'a:B'")
    assert str(info.value) == (
        "expected a trigger name, found reserved word SELECT at line 1, column 23 near 'select'\n"
        'hint: quote it to use it as a name: "select"'
    )


def test_error_positions_shift_into_a_file() -> None:
    with pytest.raises(MotionSyntaxError) as info:
        parse("SHOW MOTION TRIGGERS x")
    shifted = info.value.shifted(4, 6)
    assert (shifted.line, shifted.col, shifted.token) == (5, 28, "x")


def test_never_a_command_fallback(caplog: pytest.LogCaptureFixture) -> None:
    # plain Postgres falls back to exp.Command for this text; the motion dialect does not
    text = "CREATE MOTION TRIGGER t ON x USING 'a:B'"
    with caplog.at_level(logging.WARNING, logger="sqlglot"):
        assert isinstance(sqlglot.parse_one(text, read="postgres"), exp.Command)
        assert isinstance(sqlglot.parse_one(text, read="motion"), MotionCreate)
    for text in ["CREATE MOTION", "DROP MOTION TRIGGER", "SHOW search_path", "LOCK TABLE t"]:
        with pytest.raises(MotionSyntaxError):
            parse(text)


def test_a_parser_returning_anything_else_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def command(self: MotionParser) -> exp.Expr:
        return self._parse_as_command(self._prev)

    monkeypatch.setitem(MotionParser.STATEMENT_PARSERS, TokenType.DROP, command)
    with pytest.raises(MotionSyntaxError, match="not a motion statement") as info:
        parse("SHOW MOTION TRIGGERS; DROP MOTION TRIGGER x")
    assert (info.value.line, info.value.col, info.value.token) == (1, 23, "DROP")


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        (lambda p: p.raise_error("Expected something", p._curr), "expected something"),
        (lambda p: [][0], "invalid motion statement (indexerror"),
    ],
)
def test_sqlglot_failures_become_syntax_errors(
    monkeypatch: pytest.MonkeyPatch, failure: Callable[[MotionParser], None], message: str
) -> None:
    def drop(self: MotionParser) -> exp.Expr:
        self._advance()  # past MOTION: the failure is reported at TRIGGER
        failure(self)
        raise AssertionError("unreachable")

    monkeypatch.setitem(MotionParser.STATEMENT_PARSERS, TokenType.DROP, drop)
    with pytest.raises(MotionSyntaxError) as info:
        parse("SHOW MOTION TRIGGERS;\nDROP MOTION TRIGGER x")
    assert info.value.message.startswith(message)
    assert (info.value.line, info.value.col, info.value.token) == (2, 13, "TRIGGER")


def test_postgres_dialect_is_untouched() -> None:
    postgres = sqlglot.Dialect.get_or_raise("postgres")
    assert postgres.parser_class.STATEMENT_PARSERS is not MotionParser.STATEMENT_PARSERS
    assert all(
        not getattr(f, "__qualname__", "").startswith("MotionParser")
        for f in postgres.parser_class.STATEMENT_PARSERS.values()
    )
    assert TokenType.SHOW in postgres.tokenizer_class.COMMANDS
    assert sqlglot.Dialect.get_or_raise("motion").__class__ is Motion


def test_sqlglot_is_the_pure_python_build() -> None:
    # the compiled sqlglot[c] classes cannot be subclassed: depend on the pure build
    for module in (sqlglot.parser, sqlglot.tokenizer_core):
        assert str(module.__file__).endswith(".py")
    assert inspect.getsourcefile(MotionParser.__mro__[1]) is not None
    assert type(sqlglot.parser.Parser) is type
