"""Code deploys (issue 10 item 1): ``ALTER MOTION TRIGGER name RELOAD`` deploys the code on disk to
every backend (held connections included) and worker; nothing runs code that is not deployed.

The trigger's package is written into a temp directory readable by the server's OS user and
recorded in motion.import_paths, then rewritten on disk between statements.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

import motion_pg
from motion_pg import errors

from .conftest import motion_pg_cli, state

MODEL = """import motion_pg

from . import helpers


class Tagger(motion_pg.Trigger):
    def setup(self, ctx):
        return {"fitted": None}

    def infer(self, row, ctx):
        return {"tag": helpers.TAG}

    def fit(self, events, ctx):
        return {"fitted": helpers.TAG}
"""
DIFFERS = "differs from the deployed code"


class App:
    """A trigger package ``name`` in ``root`` whose helper module says ``TAG``."""

    def __init__(self, root: Path) -> None:
        self.name = f"deploy_{uuid.uuid4().hex[:10]}"
        self.pkg = root / self.name
        self.pkg.mkdir()
        (self.pkg / "__init__.py").write_text("")
        (self.pkg / "model.py").write_text(MODEL)
        self.tag("v1")

    def tag(self, value: str) -> None:
        (self.pkg / "helpers.py").write_text(f"TAG = {value!r}\n")

    @property
    def ref(self) -> str:
        return f"{self.name}.model:Tagger"


@pytest.fixture
def app(conn: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    monkeypatch.setenv("COLUMNS", "400")  # status tables and warnings unwrapped
    # not under tmp_path: its directories are private to us, and the server's OS user imports it
    root = Path(tempfile.mkdtemp(prefix="motion-deploy-"))
    root.chmod(0o755)
    conn.execute(
        "INSERT INTO motion.import_paths (position, path)"
        " SELECT coalesce(max(position), 0) + 1, %s FROM motion.import_paths",
        [str(root)],
    )
    conn.execute("CREATE TABLE items (id serial PRIMARY KEY, value int, tag text)")
    found = App(root)
    motion_pg.execute(conn, f"CREATE MOTION TRIGGER tagger ON items USING '{found.ref}'")
    yield found
    shutil.rmtree(root, ignore_errors=True)


def _tag(c: psycopg.Connection[Any]) -> str:
    row = c.execute("INSERT INTO items (value) VALUES (1) RETURNING tag").fetchone()
    assert row is not None
    return str(row[0])


def _digest(conn: psycopg.Connection[Any]) -> str:
    row = conn.execute("SELECT code_digest FROM motion.triggers WHERE name = 'tagger'").fetchone()
    assert row is not None and row[0]
    return str(row[0])


def _status(dsn: str) -> str:
    return motion_pg_cli("status", dsn=dsn).stdout


def test_reload_deploys_to_held_connection_and_worker(
    conn: psycopg.Connection[Any], dsn: str, app: App
) -> None:
    v1 = _digest(conn)
    assert v1[:12] in _status(dsn) and DIFFERS not in _status(dsn)
    with psycopg.connect(dsn, autocommit=True) as held:
        assert _tag(held) == "v1"
        app.tag("v2, longer")  # a deploy in progress: the files change first
        assert _tag(held) == "v1"  # the deployed code still serves
        assert DIFFERS in _status(dsn)
        [line] = motion_pg.execute(conn, "ALTER MOTION TRIGGER tagger RELOAD")
        v2 = _digest(conn)
        assert v2 != v1 and f"{v1[:12]} -> {v2[:12]}" in line
        # the same pooled connection serves the new code from its next statement
        assert _tag(held) == "v2, longer"
    with psycopg.connect(dsn, autocommit=True) as fresh:
        assert _tag(fresh) == "v2, longer"
    status = _status(dsn)
    assert v2[:12] in status and DIFFERS not in status
    deploys = conn.execute(
        "SELECT action, digest_before, digest_after, deployed_by = session_user,"
        " identity -> 'modules' ? %s FROM motion.deploys WHERE trigger_name = 'tagger' ORDER BY id",
        [f"{app.name}.helpers"],
    ).fetchall()
    assert deploys == [("create", None, v1, True, True), ("reload", v1, v2, True, True)]
    # a worker fits with the deployed code, and the version records it
    motion_pg_cli("worker", "--once", dsn=dsn)
    assert state(conn, "tagger")["fitted"] == "v2, longer"
    versions = conn.execute(
        "SELECT version, source, code_digest FROM motion.version_history"
        " WHERE trigger_name = 'tagger' ORDER BY version"
    ).fetchall()
    assert versions == [(1, "setup", v1), (2, "fit", v2)]
    # versions the compiler writes record the deployed code too
    motion_pg.execute(conn, "ALTER MOTION TRIGGER tagger SET (x = 1)")
    row = conn.execute("SELECT code_digest FROM motion.versions WHERE version = 3").fetchone()
    assert row == (v2,)


def test_code_on_disk_not_deployed_is_never_run(
    conn: psycopg.Connection[Any], dsn: str, app: App
) -> None:
    assert _tag(conn) == "v1"  # an event to fit
    app.tag("v2, not deployed")
    # the worker hands the claim back unspent and leaves the trigger to workers with the deployed
    # code (motion_pg.worker.code_gate), saying why and what to do
    out = motion_pg_cli("worker", "--once", dsn=dsn)
    assert 'not fitting motion trigger "tagger" on this host: the code on this host differs' in (
        out.stderr
    )
    assert "ALTER MOTION TRIGGER tagger RELOAD" in out.stderr
    runs = conn.execute("SELECT state, error FROM motion.runs WHERE trigger_name = 'tagger'")
    [(run_state, error)] = runs.fetchall()
    assert run_state == "abandoned" and error.startswith("not fitted on this host: the code")
    assert conn.execute("SELECT state, attempts FROM motion.jobs").fetchall() == [("pending", 0)]
    assert state(conn, "tagger") == {"fitted": None}
    # a backend that has not imported it yet refuses too, rather than serve undeployed code
    with psycopg.connect(dsn, autocommit=True) as fresh:
        with pytest.raises(psycopg.Error) as caught:
            _tag(fresh)
        assert caught.value.sqlstate == errors.UserCodeError.sqlstate
        assert "code on this server differs from the deployed code" in str(caught.value)
        assert "ALTER MOTION TRIGGER tagger RELOAD" in str(caught.value.diag.message_hint)
        # and REFIT builds with the deployed code only
        with pytest.raises(errors.UserCodeError, match=DIFFERS):
            motion_pg.execute(fresh, "ALTER MOTION TRIGGER tagger REFIT")
    # a backend that imported the deployed code keeps running it, REFIT included
    motion_pg.execute(conn, "ALTER MOTION TRIGGER tagger REFIT")
    assert _tag(conn) == "v1"
    row = conn.execute("SELECT code_digest FROM motion.versions WHERE version = 2").fetchone()
    assert row == (_digest(conn),)


def test_create_or_replace_deploys_to_held_connection(
    conn: psycopg.Connection[Any], dsn: str, app: App
) -> None:
    with psycopg.connect(dsn, autocommit=True) as held:
        assert _tag(held) == "v1"
        app.tag("v2")
        motion_pg.execute(
            conn, f"CREATE OR REPLACE MOTION TRIGGER tagger ON items USING '{app.ref}'"
        )
        assert _tag(held) == "v2"  # the issue: a held connection kept serving v1 forever
    [(create, _, v1), (replace, before, v2)] = conn.execute(
        "SELECT action, digest_before, digest_after FROM motion.deploys ORDER BY id"
    ).fetchall()
    assert (create, replace, before) == ("create", "replace", v1) and v2 == _digest(conn) != v1
