"""``motion-pg state show TRIGGER --key VALUE`` and ``motion-pg state keys TRIGGER``: a keyed
trigger's key states from the command line (values read as their columns' types)."""

from __future__ import annotations

import json
from typing import Any

import psycopg

import motion_pg

from .conftest import motion_pg_cli
from .test_keyed_state import APPS, CREATE, TABLES, run_worker, send


def cli(dsn: str, *args: str) -> Any:
    return motion_pg_cli("state", *args, dsn=dsn, check=False)


def test_state_show_key_and_keys(conn: psycopg.Connection[Any], dsn: str) -> None:
    conn.execute(TABLES)
    motion_pg.execute(conn, CREATE.format(apps=APPS))
    send(conn, (1, "a1"), (2, "b1"), (1, "a2"), (3, "c1"))
    run_worker(dsn)
    send(conn, (1, "a3"))
    run_worker(dsn)
    shown = json.loads(cli(dsn, "show", "summary", "--key", "1", "--json").stdout)
    assert shown["key"] == [1] and shown["key_version"] == 3 and shown["own"]["count"] == 3
    assert shown["own"]["last"] == "a3"
    # an older version, the same key given as JSON, one value of it
    old = json.loads(cli(dsn, "show", "summary", "--key", "[1]", "--version", "2", "--json").stdout)
    assert old["key_version"] == 2 and old["own"]["count"] == 2
    text = cli(dsn, "show", "summary", "last", "--key", "2")
    assert text.returncode == 0 and json.loads(text.stdout) == "b1"
    table = cli(dsn, "show", "summary", "--key", "1").stdout
    assert "key 1 of summary at version 3: state of version 3" in table and "a3" in table
    fresh = cli(dsn, "show", "summary", "--key", "99").stdout
    assert "no state of its own" in fresh

    listed = json.loads(cli(dsn, "keys", "summary", "--json").stdout)
    assert [(k["key"], k["key_version"], k["stored_versions"]) for k in listed["keys"]] == [
        ([1], 3, 2),
        ([2], 2, 1),
        ([3], 2, 1),
    ]
    assert all(k["bytes"] > 0 for k in listed["keys"]) and not listed["more"]
    page = json.loads(cli(dsn, "keys", "summary", "--limit", "2", "--json").stdout)
    assert [k["key"] for k in page["keys"]] == [[1], [2]] and page["more"]
    rest = json.loads(cli(dsn, "keys", "summary", "--after", "[2]", "--json").stdout)
    assert [k["key"] for k in rest["keys"]] == [[3]]
    at2 = json.loads(cli(dsn, "keys", "summary", "--version", "2", "--json").stdout)
    assert at2["keys"][0]["key_version"] == 2
    printed = cli(dsn, "keys", "summary", "--limit", "1").stdout
    assert "keys of summary at version 3" in printed and "--after '[1]'" in printed


def test_several_columns_and_what_is_refused(conn: psycopg.Connection[Any], dsn: str) -> None:
    conn.execute(TABLES)
    motion_pg.execute(
        conn,
        f"CREATE MOTION TRIGGER pairs ON messages STATE PER (org, user_id) USING '{APPS}:PairKey'",
    )
    motion_pg.execute(conn, f"CREATE MOTION TRIGGER plain ON fit_log USING '{APPS}:PairKey'")
    conn.execute("INSERT INTO messages (user_id, org, body) VALUES (1, 'a,b', 'x'), (7, 'c', 'y')")
    run_worker(dsn)
    shown = json.loads(cli(dsn, "show", "pairs", "--key", '"a,b",1', "--json").stdout)
    assert shown["key"] == ["a,b", 1] and shown["own"]["count"] == 1
    listed = cli(dsn, "keys", "pairs").stdout
    assert "a,b, 1" in listed and "c, 7" in listed
    few = cli(dsn, "show", "pairs", "--key", "c")
    assert few.returncode == 1 and "a key is 2 value(s), of (org, user_id), got 1" in few.stderr
    bad = cli(dsn, "show", "pairs", "--key", "c,seven")
    assert bad.returncode == 1 and "invalid input syntax for type integer" in bad.stderr
    plain = cli(dsn, "keys", "plain")
    assert plain.returncode == 1 and "has no STATE PER" in plain.stderr
    missing = cli(dsn, "keys", "nope")
    assert missing.returncode == 1 and 'motion trigger "nope" does not exist' in missing.stderr
