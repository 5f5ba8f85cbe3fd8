"""``--key VALUE[,VALUE]``: how a key given on the command line splits into its columns' values."""

from __future__ import annotations

from motion_pg.cli.key_option import key_label, key_values


def test_one_column_takes_the_whole_text() -> None:
    assert key_values("a,b", 1) == ["a,b"]


def test_several_columns_split_on_commas_with_quoting() -> None:
    assert key_values("acme, 42", 2) == ["acme", "42"]
    assert key_values('"a,b",7', 2) == ["a,b", "7"]


def test_label() -> None:
    assert key_label("[42]") == "42"
    assert key_label('["a,b",7]') == "a,b, 7"
