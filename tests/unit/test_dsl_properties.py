"""Property tests: generate → parse is the identity; parse never fails but with MotionSyntaxError."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from motion_pg.dsl import generate, parse, split_statements
from motion_pg.dsl.spec import (
    AlterMotionTrigger,
    CreateMotionTrigger,
    DropMotionTrigger,
    Literal,
    PinVersion,
    Refit,
    RelationName,
    Reload,
    RollbackToVersion,
    Route,
    Schedule,
    SetEnabled,
    SetParams,
    ShowMotionTriggers,
    Statement,
    Unpin,
)
from motion_pg.errors import MotionSyntaxError

FAST = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# words that are keywords somewhere (Postgres, sqlglot or the motion grammar) make good names
WORDS = (  # noqa: SIM905
    "on using infer fit no motion trigger triggers if exists not set select user table value "
    "type name key double similar e x b n u null true false with or replace rollback to version "
    "refit reload enable disable pin unpin create alter drop show default all any array cast end do"
    " varying schedule"
).split()

CHARS = st.characters(codec="utf-8", exclude_characters="\x00")  # no lone surrogates
any_text = st.text(CHARS, min_size=1, max_size=8)
names = st.one_of(
    st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True),
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_$]{0,8}", fullmatch=True),
    st.sampled_from(WORDS),
    any_text,
)
methods = st.one_of(
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True),
    st.sampled_from(WORDS).map(str.upper),
    st.sampled_from(WORDS),
    any_text,
)
strings = st.text(CHARS, max_size=16)
literals: st.SearchStrategy[Literal] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    strings,
)
params = st.dictionaries(names, literals, max_size=4)


@st.composite
def routes(draw: st.DrawFn) -> Route:
    infer, no_infer = draw(st.sampled_from([(None, False), ("m", False), (None, True)]))
    fit, no_fit = draw(st.sampled_from([(None, False), ("m", False), (None, True)]))
    columns = draw(st.none() | st.lists(names, min_size=1, max_size=3, unique=True).map(tuple))
    return Route(
        relation=RelationName(draw(names), draw(st.none() | names)),
        columns=columns,
        infer=draw(methods) if infer else None,
        fit=draw(methods) if fit else None,
        no_infer=no_infer,
        no_fit=no_fit,
    )


schedules = st.builds(Schedule, cron=strings, fit=st.none() | methods)
creates = st.builds(
    CreateMotionTrigger,
    name=names,
    routes=st.lists(routes(), max_size=3).map(tuple),
    using=strings,
    params=params,
    or_replace=st.booleans(),
    if_not_exists=st.booleans(),
    schedules=st.lists(schedules, max_size=2).map(tuple),
).filter(lambda c: bool(c.routes or c.schedules))
actions = st.one_of(
    st.builds(SetParams, st.dictionaries(names, literals, min_size=1, max_size=4)),
    st.builds(RollbackToVersion, st.integers(min_value=1, max_value=10**12)),
    st.just(Refit()),
    st.just(Reload()),
    st.builds(SetEnabled, st.booleans()),
    st.builds(PinVersion, st.integers(min_value=1, max_value=10**12)),
    st.just(Unpin()),
)
statements: st.SearchStrategy[Statement] = st.one_of(
    creates,
    st.builds(AlterMotionTrigger, names, actions),
    st.builds(DropMotionTrigger, names, st.booleans()),
    st.just(ShowMotionTriggers()),
)


def check_error(text: str, error: MotionSyntaxError) -> None:
    """The error's position lies in ``text`` (or just after it) and shows its token."""
    lines = text.split("\n")
    assert 1 <= error.line <= len(lines), (error, text)
    assert 1 <= error.col <= len(lines[error.line - 1]) + 1, (error, text)
    assert error.message and not error.message.endswith(".")
    if error.token is not None:
        offset = sum(len(line) + 1 for line in lines[: error.line - 1]) + error.col - 1
        shown = error.token[:-3] if error.token.endswith("...") else error.token
        assert text[offset:].startswith(shown), (error, text)


def parse_or_error(text: str) -> None:
    try:
        parse(text)
    except MotionSyntaxError as e:
        check_error(text, e)


@FAST
@given(statements)
def test_generate_then_parse_is_identity(statement: Statement) -> None:
    text = generate(statement)
    (parsed,) = parse(text)
    assert parsed == statement
    assert repr(parsed) == repr(statement)  # also tells 1 from 1.0 from True
    assert generate(parsed) == text


@settings(max_examples=60, deadline=None)
@given(st.lists(statements, min_size=1, max_size=4), st.data())
def test_split_then_parse_a_file_of_statements(stmts: list[Statement], data: st.DataObject) -> None:
    blanks = st.sampled_from(["", " ", "\n", "\t\n  ", " -- note; here\n", " /* a; /* b; */ */ "])
    texts = [generate(s) for s in stmts]
    file = data.draw(blanks)
    for text in texts:
        file += text + data.draw(blanks) + ";" + data.draw(blanks)
    chunks = split_statements(file)
    assert [c.text for c in chunks] == texts
    assert all(c.is_motion for c in chunks)
    lines = file.split("\n")
    for chunk in chunks:
        assert lines[chunk.line - 1][chunk.col - 1 :].startswith(chunk.text.split("\n")[0])
    assert parse(file) == stmts


KEYWORDS = (  # noqa: SIM905
    "CREATE MOTION TRIGGER TRIGGERS ON USING WITH INFER FIT NO NULL TRUE ALTER SET ROLLBACK TO "
    "VERSION REFIT ENABLE DISABLE PIN UNPIN DROP IF EXISTS SHOW REPLACE OR select x 1.5 -1 1e999 ."
).split()
VOCABULARY = [
    *KEYWORDS,
    *["(", ")", ",", "=", "'", '"', "$$", "$a$", "--", "/*", "*/", ";", "::", "E'", "\\", "\n"],
    *["'x'", '"Q"', "$1", "@", "`", "#", "?", "x'zz'", "U&'a'", "0x1F", "e'\\'", "[", "{"],
]
PIECE = re.compile(r"""\s+|[\w.$]+|'(?:[^']|'')*'|"(?:[^"]|"")*"|.""", re.S)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = generate(draw(statements))
    for _ in range(draw(st.integers(1, 3))):
        pieces = PIECE.findall(text) or [""]
        i = draw(st.integers(0, len(pieces) - 1))
        j = draw(st.integers(0, max(len(text) - 1, 0)))
        op = draw(st.sampled_from(["del", "dup", "ins", "rep", "swap", "cdel", "cins", "crep"]))
        word = draw(st.sampled_from(VOCABULARY))
        char = draw(CHARS)
        if op == "del":
            del pieces[i]
        elif op == "dup":
            pieces.insert(i, pieces[i])
        elif op == "ins":
            pieces.insert(i, " " + word + " ")
        elif op == "rep":
            pieces[i] = word
        elif op == "swap":
            k = draw(st.integers(0, len(pieces) - 1))
            pieces[i], pieces[k] = pieces[k], pieces[i]
        text = "".join(pieces)
        if op == "cdel":
            text = text[:j] + text[j + 1 :]
        elif op == "cins":
            text = text[:j] + char + text[j:]
        elif op == "crep":
            text = text[:j] + char + text[j + 1 :]
    return text


@settings(max_examples=400, deadline=None)
@given(mutated())
def test_mutated_statements_parse_or_fail_cleanly(text: str) -> None:
    parse_or_error(text)


@FAST
@given(st.one_of(st.text(CHARS, max_size=40), st.lists(st.sampled_from(VOCABULARY)).map(" ".join)))
def test_garbage_parses_or_fails_cleanly(text: str) -> None:
    parse_or_error(text)


@FAST
@given(st.text(st.sampled_from("ab ;'\"$-/*\n()E\\"), max_size=40))
def test_split_keeps_every_significant_character(text: str) -> None:
    chunks = split_statements(text)
    lines = text.split("\n")
    for chunk in chunks:
        assert chunk.text and chunk.text == chunk.text.lstrip()
        assert lines[chunk.line - 1][chunk.col - 1 :].startswith(chunk.text.split("\n")[0])
    # the chunks are whole statements: cut again, they come back the same
    again = split_statements(";\n".join(chunk.text for chunk in chunks))
    assert [c.text for c in again] == [c.text for c in chunks]
