"""No database: infer latency sampling in memory, the collector when the database is out of reach,
and tables that keep names whole at 80 columns."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from rich.console import Console

from motion_pg.cli.tables import print_rows
from motion_pg.metrics import CatalogCollector
from motion_pg.runtime import latency


@pytest.fixture
def fresh_latency(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(latency, "_statements", {})
    monkeypatch.setattr(latency, "_histograms", {})
    monkeypatch.setattr(latency, "_flushed_at", float("inf"))  # never due: no plpy here
    latency.sampling.clear()
    yield
    latency.sampling.clear()


def test_one_statement_in_every_is_sampled_up_to_rows(fresh_latency: None) -> None:
    timed = 0
    for statement in range(3 * latency.EVERY):
        latency.statement(None, "t")
        for _ in range(latency.ROWS + 5):  # more rows than are timed
            if "t" in latency.sampling:
                latency.timed("t", lambda: None)
                timed += 1
        assert ("t" in latency.sampling) is False, statement
    assert timed == 3 * latency.ROWS
    data = latency.snapshot()["t"]
    assert (
        data["c"] == timed and sum(data["b"]) == timed and len(data["b"]) == len(latency.BOUNDS) + 1
    )


def test_a_sample_lands_in_its_bucket(fresh_latency: None) -> None:
    latency.statement(None, "t")
    latency.record("t", 0.003)  # between 2.5 ms and 5 ms
    counts = latency.snapshot()["t"]["b"]
    assert counts[latency.BOUNDS.index(0.005)] == 1 and sum(counts) == 1


def test_collector_reports_down_instead_of_failing() -> None:
    collector = CatalogCollector("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")
    families = list(collector.collect())
    assert [(f.name, [s.value for s in f.samples]) for f in families] == [("motion_up", [0.0])]


def render(columns: list[tuple[str, str]], rows: list[list[str]]) -> str:
    out = io.StringIO()
    print_rows(Console(file=out, width=80), columns, rows)  # type: ignore[arg-type]
    return out.getvalue()


@pytest.mark.parametrize("name", ["tally", "a_trigger_with_a_rather_long_descriptive_name" * 2])
def test_tables_keep_names_whole_at_80_columns(name: str) -> None:
    columns = [("trigger", "name"), ("class", "name"), ("pending", "number"), ("note", "text")]
    text = render(columns, [[name, "package.module:SomeClass", "12", "word " * 30]])
    assert name in text and "package.module:SomeClass" in text and "…" not in text
    too_long = [line for line in text.splitlines() if len(line) > 80 and name not in line]
    assert too_long == []
