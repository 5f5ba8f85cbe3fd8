"""The embedded database: a private PostgreSQL 15 cluster under ``.motion/``.

The cluster listens on loopback only (TCP on 127.0.0.1 and a unix socket in ``.motion/run``),
authenticates with a generated password (``.motion/password``, readable by its owner only) and
holds one application database, ``motion``. PostgreSQL refuses to run as root, so when invoked as
root every server command runs as the ``postgres`` OS user, which then owns ``.motion/``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from motion_pg.errors import EmbeddedDatabaseError

PG_MAJOR = 15
DEFAULT_PORT = 54329
DEFAULT_DB = "motion"
SUPERUSER = "postgres"
SERVER_OS_USER = "postgres"  # who runs the server when we are root
_SOCKET_PATH_MAX = 100  # unix socket paths are limited to 107 bytes, with the file name


def bin_path(name: str) -> str:
    """The path of PostgreSQL program ``name`` (``psql``, ``pg_ctl``, …) of the major version."""
    for candidate in (Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin") / name,):
        if candidate.is_file():
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise EmbeddedDatabaseError(
            f"PostgreSQL program {name!r} not found",
            hint=f"install PostgreSQL {PG_MAJOR} (`make setup` does it on Debian)",
        )
    return found


def _is_root() -> bool:
    return os.geteuid() == 0


def _free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            # as PostgreSQL does: connections of a stopped server in TIME_WAIT do not block it
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise EmbeddedDatabaseError("no free TCP port on 127.0.0.1")


class Cluster:
    """A PostgreSQL cluster in directory ``root`` (data, socket, log, port and password files).

    ``fast`` trades durability for speed (``fsync = off``): for throwaway test clusters only.
    """

    def __init__(self, root: Path | str, *, port: int = DEFAULT_PORT, fast: bool = False) -> None:
        self.root = Path(root).absolute()
        self.data = self.root / "data"
        self.run_dir = self.root / "run"
        self.log = self.root / "postgres.log"
        self.preferred_port = port
        self.fast = fast
        self.user = SUPERUSER
        self.host = "127.0.0.1"

    @classmethod
    def default(cls) -> Cluster:
        """The embedded database of the current directory (``./.motion``, or ``$MOTION_HOME``)."""
        return cls(os.environ.get("MOTION_HOME") or Path.cwd() / ".motion")

    # -- facts ------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        try:
            return int((self.root / "port").read_text().strip())
        except FileNotFoundError:
            raise EmbeddedDatabaseError(
                f"no embedded database in {self.root}", hint="create it with `motion-pg up`"
            ) from None

    @property
    def password(self) -> str:
        return (self.root / "password").read_text().strip()

    def dsn(self, dbname: str = DEFAULT_DB) -> str:
        """A connection URL for database ``dbname`` over loopback TCP."""
        return (
            f"postgresql://{quote(self.user)}:{quote(self.password, safe='')}"
            f"@{self.host}:{self.port}/{quote(dbname)}"
        )

    def is_initialized(self) -> bool:
        return (self.data / "PG_VERSION").is_file()

    def is_running(self) -> bool:
        if not self.is_initialized():
            return False
        result = self._server(["pg_ctl", "status", "-D", str(self.data)], check=False)
        return result.returncode == 0

    # -- lifecycle ----------------------------------------------------------------------------------

    def init(self) -> None:
        """Create the cluster (idempotent): initdb, loopback-only settings, a generated password."""
        if self.is_initialized():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(exist_ok=True)
        password_file = self.root / "password"
        if not password_file.exists():
            password_file.write_text(secrets.token_urlsafe(18) + "\n")
        password_file.chmod(0o600)
        (self.root / "port").write_text(f"{_free_port(self.preferred_port)}\n")
        self._hand_over()
        pwfile = self.root / "initdb-password"
        pwfile.write_text(self.password + "\n")
        self._chown(pwfile)
        try:
            self._server([
                "initdb", "-D", str(self.data), "-U", SUPERUSER, "--pwfile", str(pwfile),
                "--auth-local=scram-sha-256", "--auth-host=scram-sha-256", "-E", "UTF8",
                "--locale=C.UTF-8", "--no-instructions",
            ])  # fmt: skip
        finally:
            pwfile.unlink(missing_ok=True)
        socket_dir = str(self.run_dir) if len(str(self.run_dir)) < _SOCKET_PATH_MAX else ""
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{socket_dir}'",
            "port": str(self.port),
            "max_connections": "200",
            "logging_collector": "off",
        }
        if self.fast:
            settings |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        conf = "".join(f"{k} = {v}\n" for k, v in settings.items())
        with open(self.data / "postgresql.auto.conf", "a", encoding="utf-8") as f:
            f.write("# motion_pg embedded database\n" + conf)

    def start(self) -> None:
        """Start the server (creating the cluster first if needed) and the ``motion`` database."""
        self.init()
        if not self.is_running():
            # the port may have been taken since init: move to a free one
            port = self.port
            if _free_port(port) != port:
                port = _free_port(0)
                (self.root / "port").write_text(f"{port}\n")
            result = self._server(
                ["pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data), "-l", str(self.log),
                 "-o", f"-p {port}"],
                check=False,
            )  # fmt: skip
            if result.returncode != 0:
                raise EmbeddedDatabaseError(
                    f"the embedded database in {self.root} did not start: "
                    f"{result.stderr.strip() or result.stdout.strip()}",
                    hint=f"see {self.log}",
                )
        self._ensure_database(DEFAULT_DB)

    def stop(self) -> None:
        """Stop the server (fast shutdown: open sessions are disconnected)."""
        if self.is_running():
            self._server(["pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.data)])

    def destroy(self) -> None:
        """Stop the server and delete the cluster directory."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def _ensure_database(self, dbname: str) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname])
            if exists.fetchone() is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))

    # -- running server programs ------------------------------------------------------------------

    def _server(
        self, argv: Sequence[str], *, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run a server program, as the ``postgres`` OS user when we are root."""
        program = [bin_path(argv[0]), *argv[1:]]
        if _is_root():
            program = ["runuser", "-u", SERVER_OS_USER, "--", *program]
        result = subprocess.run(
            program, capture_output=True, text=True, cwd="/", stdin=subprocess.DEVNULL
        )
        if check and result.returncode != 0:
            raise EmbeddedDatabaseError(
                f"{argv[0]} failed (exit {result.returncode}): "
                f"{result.stderr.strip() or result.stdout.strip()}",
                hint=f"the cluster lives in {self.root}",
            )
        return result

    def _hand_over(self) -> None:
        """As root, give the cluster directory to the server's OS user and check it can get there."""
        if not _is_root():
            return
        try:
            pw = pwd.getpwnam(SERVER_OS_USER)
        except KeyError:
            raise EmbeddedDatabaseError(
                f"running as root, but there is no {SERVER_OS_USER!r} OS user to run PostgreSQL",
                hint="install postgresql-15 (it creates the user), or run as an ordinary user",
            ) from None
        for path in [self.root, *self.root.rglob("*")]:
            with contextlib.suppress(FileNotFoundError):
                os.chown(path, pw.pw_uid, pw.pw_gid)
        probe = subprocess.run(
            ["runuser", "-u", SERVER_OS_USER, "--", "test", "-w", str(self.root)],
            capture_output=True,
        )
        if probe.returncode != 0:
            raise EmbeddedDatabaseError(
                f"the {SERVER_OS_USER!r} OS user cannot reach {self.root}",
                hint="a parent directory is private (e.g. /root); set MOTION_HOME to a directory "
                "every user can traverse, or chmod o+x the parents",
            )

    def _chown(self, path: Path) -> None:
        if _is_root():
            pw = pwd.getpwnam(SERVER_OS_USER)
            os.chown(path, pw.pw_uid, pw.pw_gid)
