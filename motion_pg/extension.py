"""The ``motion`` extension, built from ``sql/``.

The schema is kept the way it changes:

- ``sql/incremental/V/*.sql``: the table changes of release V (types, tables, columns, indexes,
  drops of functions that went away). Each runs once, when a database reaches V, and is never
  edited after the release.
- ``sql/idempotent/*.sql``: functions and views, re-applied by every install and every upgrade
  (``CREATE OR REPLACE``; views are dropped and made again). ``@VERSION@`` stands for the release.
- ``sql/releases/V.sql`` and ``sql/upgrades/A--B.sql``: the full script and upgrade steps of the
  releases made before this layout, kept as they shipped.

So the full script of a release is every incremental file up to it plus the idempotent files, and
the step from A to B is the incremental files after A up to B plus the idempotent files: generated,
never copied. The same scripts serve the two ways to install: as extension scripts (``CREATE
EXTENSION motion``, ``ALTER EXTENSION motion UPDATE``) and applied directly by ``motion-pg install``
where the extension's files are not on the server. Blocks between ``-- extension-only: begin`` and
``-- extension-only: end`` run only as an extension (e.g. ``pg_extension_config_dump``), blocks
between ``-- direct-only: begin`` and ``-- direct-only: end`` only when applied directly.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from motion_pg.errors import InstallError
from motion_pg.queries import sql_dir

NAME = "motion"
_BLOCK = re.compile(r"^-- (extension|direct)-only: begin\n(.*?)^-- \1-only: end\n", re.M | re.S)
_HEADER = '\\echo Use "CREATE EXTENSION motion" to load this file. \\quit\n'


def control_file() -> Path:
    """``extension/motion.control`` of the source tree (``motion_pg/_extension/`` in a wheel)."""
    root = sql_dir().parent
    for candidate in (root / "extension", root / "_extension"):
        if (candidate / f"{NAME}.control").is_file():
            return candidate / f"{NAME}.control"
    raise InstallError(f"motion_pg's extension control file {NAME}.control is missing in {root}")


def current_version() -> str:
    """The extension version the current sources install (``default_version`` of the control)."""
    text = control_file().read_text(encoding="utf-8")
    found = re.search(r"^default_version\s*=\s*'([^']+)'", text, re.M)
    if found is None:
        raise InstallError(f"{control_file()} has no default_version")
    return found.group(1)


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def _incremental() -> dict[str, list[Path]]:
    """The incremental files of each release that has some, in the order they run."""
    root = sql_dir() / "incremental"
    return {d.name: sorted(d.glob("*.sql")) for d in root.iterdir() if d.is_dir()}


def _shipped_upgrades() -> list[tuple[str, str]]:
    pairs = [tuple(p.stem.split("--")) for p in (sql_dir() / "upgrades").glob("*--*.sql")]
    return [(a, b) for a, b in pairs]


def releases() -> list[str]:
    """The releases that can be installed fresh, oldest first: those shipped before this layout,
    and the current version (the last)."""
    older = [p.stem for p in (sql_dir() / "releases").glob("*.sql")]
    return sorted({*older, current_version()}, key=_key)


def _versions() -> list[str]:
    """Every release a database may hold, oldest first."""
    return sorted({*releases(), *_incremental(), *(v for p in _shipped_upgrades() for v in p)},
                  key=_key)  # fmt: skip


def upgrades() -> list[tuple[str, str]]:
    """The (from, to) pairs that have an upgrade script: the shipped ones, then one generated step
    per release after them."""
    shipped = _shipped_upgrades()
    versions = _versions()
    last = max((b for _, b in shipped), key=_key, default=versions[0])
    later = [v for v in versions if _key(v) > _key(last) and _key(v) <= _key(current_version())]
    generated = list(zip([last, *later], later, strict=False))
    return sorted([*shipped, *generated], key=lambda p: _key(p[0]))


def _for(text: str, mode: str) -> str:
    """``text`` with the blocks of the other mode removed."""
    return _BLOCK.sub(lambda m: m.group(2) if m.group(1) == mode else "", text)


def _read(paths: list[Path]) -> str:
    return "\n".join(p.read_text(encoding="utf-8").rstrip() + "\n" for p in paths)


def _idempotent(version: str) -> str:
    text = _read(sorted((sql_dir() / "idempotent").glob("*.sql")))
    return text.replace("@VERSION@", version)


def _generated(after: str | None, upto: str) -> str:
    """Incremental files of the releases in (``after``, ``upto``], then the idempotent files when
    ``upto`` is the current release (only its functions and views are in the sources; a step to an
    older release is followed by the later steps in the same update, the last one re-applying
    them)."""
    steps = [
        path
        for release, paths in sorted(_incremental().items(), key=lambda kv: _key(kv[0]))
        if (after is None or _key(release) > _key(after)) and _key(release) <= _key(upto)
        for path in paths
    ]
    if upto != current_version():
        return _read(steps)
    return _read(steps) + "\n" + _idempotent(upto)


def full_script(version: str, mode: str) -> str:
    """The full install script of ``version`` (one of :func:`releases`); ``mode`` is
    ``"extension"`` or ``"direct"``."""
    shipped = sql_dir() / "releases" / f"{version}.sql"
    if shipped.is_file():
        text = shipped.read_text(encoding="utf-8")
    elif version == current_version():
        text = _generated(None, version)
    else:
        raise InstallError(
            f"motion schema {version} cannot be installed fresh; install {current_version()}"
        )
    return _for(text, mode)


def upgrade_script(source: str, target: str, mode: str) -> str:
    """The script from release ``source`` to ``target``; ``mode`` as for :func:`full_script`."""
    path = sql_dir() / "upgrades" / f"{source}--{target}.sql"
    text = path.read_text(encoding="utf-8") if path.is_file() else _generated(source, target)
    return _for(text, mode)


def upgrade_path(installed: str) -> list[tuple[str, str]]:
    """The upgrade steps from ``installed`` to the current version, in order."""
    steps: list[tuple[str, str]] = []
    version = installed
    by_source = dict(upgrades())
    while version != current_version():
        if version not in by_source:
            raise InstallError(
                f"no upgrade path from motion schema {version} to {current_version()}"
            )
        steps.append((version, by_source[version]))
        version = by_source[version]
    return steps


def build(out: Path) -> list[Path]:
    """Write the control file and every versioned script into ``out``; returns the files."""
    out.mkdir(parents=True, exist_ok=True)
    written = [out / f"{NAME}.control"]
    shutil.copyfile(control_file(), written[0])
    for version in releases():
        path = out / f"{NAME}--{version}.sql"
        path.write_text(_HEADER + full_script(version, "extension"), encoding="utf-8")
        written.append(path)
    for source, target in upgrades():
        path = out / f"{NAME}--{source}--{target}.sql"
        path.write_text(_HEADER + upgrade_script(source, target, "extension"), encoding="utf-8")
        written.append(path)
    return written


def server_extension_dir(pg_config: str) -> Path:
    """The directory the server reads extension files from."""
    sharedir = subprocess.run(
        [pg_config, "--sharedir"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return Path(sharedir) / "extension"


def main(argv: list[str] | None = None) -> int:
    """``python -m motion_pg.extension install [PG_CONFIG]``: install the files into the server."""
    from motion_pg.embedded import bin_path

    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in ("install", "build"):
        print(
            "usage: python -m motion_pg.extension install [PG_CONFIG] | build DIR", file=sys.stderr
        )
        return 2
    if args[0] == "build":
        for path in build(Path(args[1] if len(args) > 1 else "build/extension")):
            print(path)
        return 0
    target = server_extension_dir(args[1] if len(args) > 1 else bin_path("pg_config"))
    try:
        files = build(target)
    except PermissionError as e:
        print(f"cannot write {target}: {e}; run as root (or with sudo)", file=sys.stderr)
        return 1
    print(f"motion extension {current_version()}: {len(files)} files in {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
