"""``motion-pg demo``: the support-tickets application end to end on the embedded database.

Everything the user sees goes through psql and the ``motion-pg`` command line, as a user would
drive it: seed data, the motion trigger, inserts inferred in their transaction, an agent's
corrections, the worker's fit, and the changed predictions that follow; a variant runs as a shadow
of the serving trigger throughout, and the demo ends with the comparison report of the two against
the agents' labels.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from rich.console import Console
from rich.markup import escape
from rich.rule import Rule

from motion_pg.embedded import Cluster, bin_path
from motion_pg.install import install

_HERE = Path(__file__).resolve().parent
# a checkout's examples/, or the copy a built wheel carries
APP = (
    next(
        (
            p
            for p in (_HERE.parent / "examples", _HERE / "_examples")
            if (p / "support_tickets").is_dir()
        ),
        _HERE.parent / "examples",
    )
    / "support_tickets"
)
DBNAME = "motion_demo"
console = Console(highlight=False)


def _step(title: str) -> None:
    console.print(Rule(f"[bold]{title}"))


def _psql(dsn: str, *args: str, show: bool = True) -> str:
    result = subprocess.run(
        [bin_path("psql"), dsn, "-X", "-v", "ON_ERROR_STOP=1", "-P", "pager=off", *args],
        capture_output=True, text=True, cwd=APP.parent.parent,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"psql {' '.join(args)} failed:\n{result.stderr}")
    if show:
        console.print(result.stdout.rstrip())
    return result.stdout


def _cli(dsn: str, *args: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "motion_pg.cli", *args, "--dsn", dsn],
        capture_output=True, text=True, env={**os.environ, "COLUMNS": "120"},
    )  # fmt: skip
    console.print(result.stdout.rstrip())
    if result.returncode != 0:
        raise RuntimeError(f"motion-pg {' '.join(args)} failed:\n{result.stderr}")


def _tickets(name: str) -> list[dict[str, str]]:
    with open(APP / "data" / name, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _held_out_score(dsn: str, tickets: list[dict[str, str]]) -> int:
    """How many of ``tickets`` the serving version gets right, inferred in a transaction that is
    rolled back: the model never keeps them, no agent corrects them, no fit learns from them."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "INSERT INTO support.tickets (subject, body) "
            "SELECT * FROM unnest(%s::text[], %s::text[]) RETURNING predicted_category",
            [[t["subject"] for t in tickets], [t["body"] for t in tickets]],
        ).fetchall()
        conn.rollback()
    return sum(r[0] == t["true_category"] for r, t in zip(rows, tickets, strict=True))


def _insert_incoming(dsn: str, tickets: list[dict[str, str]]) -> list[tuple[int, str]]:
    values = sql.SQL(", ").join(
        sql.SQL("({}, {})").format(sql.Literal(t["subject"]), sql.Literal(t["body"]))
        for t in tickets
    )
    statement = sql.SQL(
        "INSERT INTO support.tickets (subject, body) VALUES {} "
        "RETURNING id, left(subject, 44) AS subject, predicted_category, round(confidence::numeric, 2) AS confidence"
    ).format(values)
    out = _psql(dsn, "-c", statement.as_string(None))
    ids = []
    for line in out.splitlines()[2:]:
        cells = [c.strip() for c in line.split("|")]
        if len(cells) == 4 and cells[0].isdigit():
            ids.append((int(cells[0]), cells[2]))
    return ids


def _accuracy(pairs: list[tuple[int, str]], tickets: list[dict[str, str]]) -> int:
    return sum(pred == t["true_category"] for (_, pred), t in zip(pairs, tickets, strict=True))


def _check_shipped() -> None:
    """The example app and its model's libraries are there, or say what to install."""
    if not (APP / "triggers.py").is_file():
        raise RuntimeError(
            f"the support-tickets example is not shipped with this motion_pg (looked in {APP}); "
            "run the demo from a checkout of motion_pg"
        )
    needed = {"sklearn": "scikit-learn", "scipy": "scipy"}
    missing = [pkg for mod, pkg in needed.items() if importlib.util.find_spec(mod) is None]
    if missing:
        raise RuntimeError(
            f"the demo's model needs {', '.join(missing)}: pip install 'motion-pg[examples]'"
        )


def run() -> None:
    """Run the demo; raises on any failure."""
    _check_shipped()
    _step("1. the embedded database")
    cluster = Cluster.default()
    cluster.start()
    with psycopg.connect(cluster.dsn("postgres"), autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DBNAME))
        )
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DBNAME)))
    dsn = cluster.dsn(DBNAME)
    console.print(f"database {DBNAME} at {dsn}")
    with psycopg.connect(dsn, autocommit=True) as conn:
        # the motion_pg running this demo first (a checkout's, even with another checkout's venv)
        wanted = [str(_HERE.parent), sysconfig.get_paths()["purelib"], str(APP.parent)]
        paths = install(conn, list(dict.fromkeys(wanted)))
    console.print("motion installed; the server imports Python from:", *paths, sep="\n  ")

    _step("2. tickets table and labelled history (psql)")
    _psql(dsn, "-q", "-f", str(APP / "schema.sql"))
    _psql(dsn, "-c", f"\\copy support.tickets(subject, body, category) from "
          f"'{APP / 'data' / 'tickets.csv'}' csv header")  # fmt: skip
    _psql(dsn, "-c", "SELECT category, count(*) FROM support.tickets GROUP BY 1 ORDER BY 1")

    _step("3. CREATE MOTION TRIGGER: setup() trains version 1 on the history")
    console.print((APP / "trigger.sql").read_text().strip())
    _psql(dsn, "-f", str(APP / "trigger.sql"))
    console.print("\n[bold]a variant (word n-grams only) runs as its shadow:[/bold]")
    console.print((APP / "variant.sql").read_text().strip())
    _psql(dsn, "-f", str(APP / "variant.sql"))

    _step("4. new tickets arrive: infer fills predicted_category in the INSERT's transaction")
    tickets = _tickets("incoming.csv")
    held_out = _tickets("heldout.csv")
    before = _insert_incoming(dsn, tickets)
    held_before = _held_out_score(dsn, held_out)
    console.print(
        f"seed model: {_accuracy(before, tickets)}/{len(tickets)} right; on {len(held_out)} "
        f"held-out tickets it has never seen (inferred in a rolled-back transaction): "
        f"{held_before}/{len(held_out)}"
    )

    _step("5. an agent corrects the wrong ones (UPDATE of category -> fit events)")
    wrong = [
        (i, t) for (i, pred), t in zip(before, tickets, strict=True) if pred != t["true_category"]
    ]
    for ticket_id, t in wrong:
        _psql(dsn, "-q", "-c", sql.SQL("UPDATE support.tickets SET category = {} WHERE id = {}")
              .format(sql.Literal(t["true_category"]), sql.Literal(ticket_id)).as_string(None),
              show=False)  # fmt: skip
    console.print(f"{len(wrong)} correction(s) committed; the writer never waited for a fit")
    _cli(dsn, "status")

    _step("6. the worker fits the committed corrections -> a new state version")
    _cli(dsn, "worker", "--once")
    _psql(dsn, "-c", "SELECT trigger_name, version, source, parent_version, pg_size_pretty("
          "state_bytes) AS state, created_at::time(0) FROM motion.versions ORDER BY 1, 2")  # fmt: skip

    _step("7. the same kind of tickets again: the next statement serves the new version")
    after = _insert_incoming(dsn, tickets)
    held_after = _held_out_score(dsn, held_out)
    console.print(
        f"the corrected texts again: before {_accuracy(before, tickets)}/{len(tickets)}, after "
        f"{_accuracy(after, tickets)}/{len(tickets)} (the model saw these corrections: memory)\n"
        f"held-out tickets (the same problems in other words), never seen nor corrected: before "
        f"{held_before}/{len(held_out)}, after {held_after}/{len(held_out)} (what it learnt)"
    )

    _step("8. lineage: where a prediction came from (motion.lineage, from psql or the CLI)")
    _cli(dsn, "lineage", "support.tickets", str(after[0][0]), "--events", "3")

    _step("9. pgvector: tickets most similar to the first new one")
    first = before[0][0]
    similar = sql.SQL(
        "SELECT id, left(subject, 50) AS subject, category FROM support.tickets "
        "WHERE subject <> (SELECT subject FROM support.tickets WHERE id = {id}) "
        "ORDER BY embedding <-> (SELECT embedding FROM support.tickets WHERE id = {id}) LIMIT 3"
    ).format(id=sql.Literal(first))
    _psql(dsn, "-c", similar.as_string(None))

    _step("10. the experiment: the shadow variant against the serving trigger, graded by agents")
    _compare(dsn, held_out)
    _step("11. drift and the nightly refit: the corrections against the history setup saw")
    _cli(dsn, "drift", "ticket_triage")
    _psql(dsn, "-c", "SELECT name, schedules, next_run_at::timestamp(0) AS next_refit"
          " FROM motion.trigger_status")  # fmt: skip
    console.print(f'\ndone: explore with psql "{dsn}"')


def _compare(dsn: str, tickets: list[dict[str, str]]) -> None:
    """The held-out tickets arrive for real and agents label every one; then the comparison report
    of both triggers on them (``--since``: only these tickets, which neither model learnt from)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        since = conn.execute("SELECT now()::text").fetchone()[0]  # type: ignore[index]
        ids = [r[0] for r in conn.execute(
            "INSERT INTO support.tickets (subject, body) "
            "SELECT * FROM unnest(%s::text[], %s::text[]) RETURNING id",
            [[t["subject"] for t in tickets], [t["body"] for t in tickets]],
        )]  # fmt: skip
        conn.execute(
            "UPDATE support.tickets t SET category = v.category "
            "FROM unnest(%s::int[], %s::text[]) AS v(id, category) WHERE t.id = v.id",
            [ids, [t["true_category"] for t in tickets]],
        )
    console.print(
        f"{len(tickets)} held-out tickets inserted (both triggers inferred each one) and labelled "
        "by the agents; the worker fits both on the labels:"
    )
    _cli(dsn, "worker", "--once")
    _cli(dsn, "compare", "ticket_triage", "ticket_triage_words", "--label", "category",
         "--since", since)  # fmt: skip


def main(argv: Any = None) -> int:
    try:
        run()
    except Exception as e:  # the demo is a script: show the failure plainly
        console.print(f"[red]demo failed:[/red] {escape(str(e))}")
        return 1
    return 0
