"""``motion-pg init NAME``: scaffold an application (package, trigger, migration, test, README)."""

from __future__ import annotations

import re
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import click
from rich.console import Console

from motion_pg.cli import main

console = Console(highlight=False)
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
MIGRATE = {
    "sql": "motion-pg apply migrations/001_{name}.sql   # the table and its motion trigger",
    "alembic": "alembic upgrade head          # the table and its motion trigger (migrations/)",
}


def _templates() -> Traversable:
    return resources.files("motion_pg") / "templates" / "init"


def _walk(node: Traversable, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], str]]:
    """Every template file under ``node``: (relative path parts, text)."""
    found: list[tuple[tuple[str, ...], str]] = []
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        if child.is_dir():
            found += _walk(child, (*prefix, child.name))
        elif child.name.endswith(".tmpl"):
            found.append(((*prefix, child.name.removesuffix(".tmpl")), child.read_text("utf-8")))
    return found


def render(name: str, *, alembic: bool = False) -> dict[Path, str]:
    """The files of a new application ``name``: relative path -> content."""
    values = {
        "name": name,
        "Class": "".join(part.capitalize() for part in name.split("_") if part) + "Trigger",
        "table": f"{name}_items",
        "trigger": name,
        "test_extra": ', "alembic>=1.13", "sqlalchemy>=2.0"' if alembic else "",
    }
    values["migrate"] = MIGRATE["alembic" if alembic else "sql"].format(name=name)

    def fill(text: str) -> str:
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)

    files: dict[Path, str] = {}
    for variant in ("common", "alembic" if alembic else "sql"):
        for parts, text in _walk(_templates() / variant):
            path = Path(*(p.replace("__pkg__", name) for p in parts))
            files[path] = fill(text)
    return files


def scaffold(name: str, target: Path, *, alembic: bool = False) -> list[Path]:
    """Write application ``name`` into directory ``target`` (new or empty); returns the files."""
    if not _NAME.match(name):
        raise click.BadParameter(
            f"{name!r} is not a usable name: lowercase letters, digits and underscores, starting "
            "with a letter (it names the Python package, the trigger and its table)",
            param_hint="NAME",
        )
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise click.ClickException(
            f"{target} already exists and is not empty; choose another NAME or --directory"
        )
    written = []
    for rel, text in render(name, alembic=alembic).items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


@main.command()
@click.argument("name")
@click.option("--alembic", is_flag=True, help="Alembic migrations instead of a SQL file")
@click.option(
    "--directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="where to write the application (default: ./NAME)",
)
def init(name: str, alembic: bool, directory: Path | None) -> None:
    """Scaffold an application NAME: a package with a trigger class, a migration, a test, a README."""
    target = directory if directory is not None else Path(name)
    written = scaffold(name, target, alembic=alembic)
    console.print(f"created {target}/ with:")
    for path in written:
        console.print(f"  {path.relative_to(target)}")
    console.print(f"next, in {target}/ (README.md says more):")
    for line in (
        "motion-pg install --path .",
        MIGRATE["alembic" if alembic else "sql"],
        "motion-pg worker",
    ):
        console.print(f"  {line.format(name=name).split('   ')[0].strip()}")
    console.print("and `pytest` runs its tests on a throwaway PostgreSQL")
