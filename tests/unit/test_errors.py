"""The error for an unknown motion trigger (MP101) is written once: ``errors.unknown_trigger`` in
Python, ``motion._unknown_trigger`` in SQL (same message and hint); nowhere else."""

from __future__ import annotations

import re
from pathlib import Path

from motion_pg.errors import UNKNOWN_TRIGGER_HINT, UnknownTrigger, from_sqlstate, unknown_trigger

ROOT = Path(__file__).resolve().parents[2]
# the message written out: 'motion trigger "x" does not exist' closed right after "exist"
WRITTEN_OUT = re.compile(r"""motion trigger \S+ does not exist['"]""")
HELPERS = {"motion_pg/errors.py", "sql/idempotent/280-debts.sql"}
# messages that say more than "does not exist" about a different situation, or are pinned by a
# test of their own wording
OTHERS = {
    # `fit_pending`'s message quotes the name with repr (tests/integration/test_testing_kit.py)
    "motion_pg/testing/fits.py",
}


def test_the_message_names_the_trigger_and_says_what_to_do() -> None:
    error = unknown_trigger("nope")
    assert isinstance(error, UnknownTrigger) and error.sqlstate == "MP101"
    assert from_sqlstate("MP101") is UnknownTrigger
    assert error.message == 'motion trigger "nope" does not exist'
    assert error.hint == UNKNOWN_TRIGGER_HINT == "see the triggers with SHOW MOTION TRIGGERS"
    assert str(error) == f"{error.message}\nhint: {error.hint}"


def test_the_sql_helper_raises_the_same_message_and_hint() -> None:
    text = (ROOT / "sql/idempotent/280-debts.sql").read_text(encoding="utf-8")
    body = text.split("FUNCTION motion._unknown_trigger(", 1)[1].split("$$;", 1)[0]
    assert """'motion trigger "%" does not exist', trigger""" in body
    assert f"ERRCODE = '{UnknownTrigger.sqlstate}'" in body
    assert f"HINT = '{UNKNOWN_TRIGGER_HINT}'" in body


def test_no_module_writes_the_message_out() -> None:
    found = []
    for path in [*ROOT.glob("motion_pg/**/*.py"), *ROOT.glob("sql/**/*.sql")]:
        name = path.relative_to(ROOT).as_posix()
        if name in HELPERS | OTHERS or name.startswith(("sql/releases/", "sql/upgrades/",
                                                         "sql/incremental/")):  # fmt: skip
            continue  # shipped scripts are never edited
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if WRITTEN_OUT.search(line):
                found.append(f"{name}:{number}: {line.strip()}")
    assert not found, "use errors.unknown_trigger / motion._unknown_trigger:\n" + "\n".join(found)
