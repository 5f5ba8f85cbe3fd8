"""SQL files of the package, loaded by name.

``sql/queries.sql`` holds named queries (``-- name: claim_jobs`` starts one), read once per process;
the schema's files are assembled by :mod:`motion_pg.extension`.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

_NAME = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


def sql_dir() -> Path:
    """The directory holding the package's SQL files."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "sql", here / "_sql"):
        if (candidate / "queries.sql").is_file():
            return candidate
    raise FileNotFoundError(f"motion_pg's sql directory is missing next to {here}")


def read_sql(filename: str) -> str:
    """The text of one SQL file of the package, e.g. ``queries.sql``."""
    return (sql_dir() / filename).read_text(encoding="utf-8")


@functools.cache
def _queries() -> dict[str, str]:
    text = read_sql("queries.sql")
    parts = _NAME.split(text)
    # parts: [preamble, name1, body1, name2, body2, ...]
    found: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        lines = [ln for ln in body.strip().splitlines() if not ln.lstrip().startswith("--")]
        found[name] = "\n".join(lines).strip()
    return found


def query(name: str) -> str:
    """The named query ``name`` from ``sql/queries.sql``."""
    try:
        return _queries()[name]
    except KeyError:
        raise KeyError(f"no query named {name!r} in queries.sql") from None
