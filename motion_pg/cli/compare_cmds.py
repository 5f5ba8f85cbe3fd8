"""``motion-pg compare A B``: the comparison report of a live experiment (``motion.compare``)."""

from __future__ import annotations

import re
from typing import Any

import click
import psycopg
from rich.console import Console

from motion_pg.cli import main
from motion_pg.cli.options import dsn_option, echo_json, json_option, resolve_dsn, server_error
from motion_pg.cli.tables import print_rows
from motion_pg.errors import MotionError
from motion_pg.pg import connect

console = Console(highlight=False)
# '30 minutes', '2 hours', '7 days', '1 day 2 hours': an interval back from now, not a timestamp
_INTERVAL = re.compile(r"^\s*(\d+(\.\d+)?\s*[a-zA-Z]+\s*)+$")


def _since_sql(since: str | None) -> tuple[str, list[Any]]:
    if since is None:
        return "NULL::timestamptz", []
    if _INTERVAL.match(since):
        return "pg_catalog.now() - %s::interval", [since]
    return "%s::timestamptz", [since]


@main.command()
@dsn_option
@click.argument("a")
@click.argument("b")
@click.option("--label", default=None, help="a column holding the truth (e.g. an agent's "
              "corrected category): each side's accuracy on the rows labelled")  # fmt: skip
@click.option("--label-output", default=None,
              help="the output column --label grades (default: the same name, *_LABEL, or the "
              "only output)")  # fmt: skip
@click.option("--label-at", default=None,
              help="a timestamp column holding when --label was set: grade only the rows "
              "labelled since --since (default: labelled now, on rows inferred since then)")  # fmt: skip
@click.option("--since", default=None,
              help="a timestamp, or an interval back from now ('30 minutes'); default: when the "
              "experiment began")  # fmt: skip
@json_option
def compare(dsn: str | None, a: str, b: str, label: str | None, label_output: str | None,
            label_at: str | None, since: str | None, as_json: bool) -> None:  # fmt: skip
    """Compare motion trigger B (a shadow or canary) with A, the trigger it runs against."""
    since_sql, since_args = _since_sql(since)
    try:
        with connect(resolve_dsn(dsn)) as conn:
            row = conn.execute(
                f"SELECT motion.compare(%s, %s, %s, {since_sql}, %s, %s)",
                [a, b, label, *since_args, label_output, label_at],
            ).fetchone()
    except psycopg.Error as e:
        raise server_error(e) from e
    except MotionError as e:
        raise click.ClickException(str(e)) from e
    assert row is not None
    found: dict[str, Any] = row[0]
    if as_json:
        echo_json(found)
        return
    show(found)


def _cell(value: Any, percent: bool = False) -> str:
    if value is None:
        return "-"
    if percent:
        return f"{100 * float(value):.1f}%"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def show(found: dict[str, Any]) -> None:
    """Print a report as tables."""
    a, b = found["a"], found["b"]
    e = found["experiment"]
    what = e["kind"] + (f" ({e['percent']:g} %)" if e.get("percent") is not None else "")
    rows = found["rows"]
    console.print(
        f"{e['trigger']} runs as {what} of {e['baseline']} since {e['started_at']}; "
        f"compared since {found['since']}\n"
        f"rows: {a} {rows['a']}, {b} {rows['b']}, both {rows['both']} "
        f"({rows['both_inferred']} inferred by both)",
        soft_wrap=True,
    )
    side = [
        ("infers", "infers", False), ("error rate", "error_rate", True),
        ("latency p50 ms", "latency_p50_ms", False), ("latency p99 ms", "latency_p99_ms", False),
        ("fit runs", "fit_runs", False), ("fit events", "fit_events", False),
        ("fit mean s", "fit_mean_seconds", False), ("serving version", "serving_version", False),
        ("state bytes", "state_bytes", False),
    ]  # fmt: skip
    variants = found["variants"]
    print_rows(
        console, [("", "name"), (a, "number"), (b, "number")],
        [[title, _cell(variants[a][k], p), _cell(variants[b][k], p)] for title, k, p in side],
        title="each side",
    )  # fmt: skip
    columns = found["columns"]
    print_rows(
        console, [("output", "name"), ("compared", "number"), ("agreement", "number"),
                  ("mean |a-b|", "number")],
        [[c, str(v["compared"]), _cell(v["agreement"], True), _cell(v.get("mean_abs_diff"))]
         for c, v in columns.items()],
        title="agreement per output column",
    )  # fmt: skip
    for column, entry in columns.items():
        confusion = entry.get("confusion")
        if not confusion:
            continue
        seen = sorted({y for row in confusion.values() for y in row})
        print_rows(
            console, [(f"{a} \\ {b}", "name"), *((y, "number") for y in seen)],
            [[x, *(str(confusion[x].get(y, 0)) for y in seen)] for x in sorted(confusion)],
            title=f"{column}: {a} (rows) against {b} (columns)",
        )  # fmt: skip
    label = found.get("label")
    if label is not None:
        console.print(
            f"[bold]accuracy against {label['column']}[/bold] ({label['output']} on the "
            f"{label['rows']} rows graded: {label['labelled']}):\n"
            f"  {a}: {label[a]['correct']}/{label['rows']} ({_cell(label[a]['accuracy'], True)})"
            f"\n  {b}: {label[b]['correct']}/{label['rows']} ({_cell(label[b]['accuracy'], True)})",
            soft_wrap=True,
        )
