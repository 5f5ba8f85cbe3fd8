"""Workers on several hosts: each host a network namespace made by the test, talking to the
database server over its own veth pair on a private link-local range.

Each host has its own copy of the trigger code (``motion-pg worker --path DIR``). One host's
workers are SIGKILLed mid-fit, another host is cut off from the server while it holds a fit and
joins again later; leases hand the work over, the cut-off worker's late commit is fenced off, and
the exactly-once check of the reliability suite holds. A host whose code differs from the deployed
code leaves the trigger to the others instead of spending the events' attempts.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from .conftest import ROOT
from .test_reliability import LEASE, check, create_tally, drained, wait_until

pytestmark = pytest.mark.chaos

APPS = ROOT / "tests" / "apps" / "motion_test_apps"


def _ip(*args: str, netns: str | None = None) -> None:
    prefix = ["ip", "netns", "exec", netns] if netns else []
    subprocess.run([*prefix, "ip", *args], check=True, capture_output=True, text=True)


@dataclass
class Host:
    """A network namespace linked to the server's namespace by a veth pair."""

    name: str  # the namespace
    link: str  # the veth end on the server's side
    server_ip: str  # the server's address on the link
    code: Path  # this host's copy of the trigger code
    procs: list[subprocess.Popen[str]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def start_worker(self, dsn: str, *extra: str) -> subprocess.Popen[str]:
        """A real ``motion-pg worker`` inside this host, connecting over the link."""
        params = conninfo_to_dict(dsn)
        params["host"] = self.server_ip
        with tempfile.NamedTemporaryFile(
            "w", prefix=f"motion-{self.name}-", suffix=".log", delete=False
        ) as out:
            # its own network and its own host name (workers are named after their host)
            worker = [sys.executable, "-m", "motion_pg.cli", "worker", "--dsn",
                      make_conninfo(**params), "--path", str(self.code), "--lease", str(LEASE),
                      "--poll-interval", "0.2", "-v", *extra]  # fmt: skip
            proc = subprocess.Popen(
                ["ip", "netns", "exec", self.name, "unshare", "--uts", "sh", "-c",
                 f'hostname {self.name} && exec "$@"', "sh", *worker],
                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, text=True, start_new_session=True,
            )  # fmt: skip
        self.procs.append(proc)
        self.logs.append(Path(out.name))
        return proc

    def log(self) -> str:
        return "".join(p.read_text(errors="replace") for p in self.logs if p.exists())

    def kill_all(self) -> None:
        """SIGKILL every process of this host (the host dies)."""
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        for proc in self.procs:
            proc.wait(30)

    def partition(self) -> None:
        """Cut the host off from the server: its packets go nowhere, no reset is sent."""
        _ip("link", "set", self.link, "down")

    def heal(self) -> None:
        _ip("link", "set", self.link, "up")


@pytest.fixture(scope="session")
def server_on_links(pg_cluster: Any) -> Iterator[None]:
    """The test server also listens on the hosts' links (all addresses), with password auth."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("network namespaces need root and iproute2 (CI runs as root)")
    try:
        _ip("netns", "add", "motion-probe")
        _ip("netns", "del", "motion-probe")
    except subprocess.CalledProcessError as e:
        pytest.skip(f"cannot create network namespaces here: {e.stderr.strip()}")
    hba = pg_cluster.data / "pg_hba.conf"
    original = hba.read_text()
    hba.write_text(original + "host all all 169.254.0.0/16 scram-sha-256\n")
    with psycopg.connect(pg_cluster.dsn("postgres"), autocommit=True) as c:
        c.execute("ALTER SYSTEM SET listen_addresses = '*'")
    pg_cluster.stop()
    pg_cluster.start()
    yield
    hba.write_text(original)
    with psycopg.connect(pg_cluster.dsn("postgres"), autocommit=True) as c:
        c.execute("ALTER SYSTEM SET listen_addresses = '127.0.0.1'")
    pg_cluster.stop()
    pg_cluster.start()


@pytest.fixture
def hosts(server_on_links: None) -> Iterator[list[Host]]:
    """Three hosts on links 169.254.R.4i+1 (server) / +2 (host), with their own code copies."""
    made: list[Host] = []
    tag = uuid.uuid4().hex[:5]
    subnet = random.randint(10, 250)  # concurrent test runs on one machine use other subnets
    root = Path(tempfile.mkdtemp(prefix="motion-hosts-"))
    root.chmod(0o755)
    try:
        for i in range(3):
            ns, link, peer = f"mp{tag}h{i}", f"mp{tag}s{i}", f"mp{tag}p{i}"
            server_ip, host_ip = f"169.254.{subnet}.{4 * i + 1}", f"169.254.{subnet}.{4 * i + 2}"
            _ip("netns", "add", ns)
            _ip("link", "add", link, "type", "veth", "peer", "name", peer)
            _ip("link", "set", peer, "netns", ns)
            _ip("addr", "add", f"{server_ip}/30", "dev", link)
            _ip("link", "set", link, "up")
            _ip("addr", "add", f"{host_ip}/30", "dev", peer, netns=ns)
            _ip("link", "set", peer, "up", netns=ns)
            _ip("link", "set", "lo", "up", netns=ns)
            code = root / f"host{i}"
            shutil.copytree(APPS, code / "motion_test_apps",
                            ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
            made.append(Host(ns, link, server_ip, code))
        yield made
    finally:
        for host in made:
            host.kill_all()
            print(f"--- {host.name} ---\n{host.log()}")  # shown when the test failed
            for log in host.logs:
                log.unlink(missing_ok=True)
            with contextlib.suppress(subprocess.CalledProcessError):
                _ip("link", "del", host.link)
            with contextlib.suppress(subprocess.CalledProcessError):
                _ip("netns", "del", host.name)
        shutil.rmtree(root, ignore_errors=True)


def _writer(dsn: str, name: str, stop: threading.Event) -> None:
    with psycopg.connect(dsn, autocommit=True) as w:
        i = 0
        while not stop.is_set():
            with w.transaction(force_rollback=(i % 10 == 9)):
                w.execute(f"INSERT INTO {name} (value) SELECT g FROM generate_series(1, 2) g")
            i += 1
            time.sleep(0.02)


def test_hosts_killed_and_partitioned_lose_and_double_nothing(
    conn: psycopg.Connection[Any], dsn: str, hosts: list[Host]
) -> None:
    a, b, c = hosts
    create_tally(conn, "spread", "fit_batch = 5, fit_sleep = 0.15")
    a.start_worker(dsn)
    a.start_worker(dsn)
    b.start_worker(dsn)
    stop = threading.Event()
    writer = threading.Thread(target=_writer, args=(dsn, "spread", stop))
    writer.start()
    try:
        wait_until(lambda: _fitted_by(conn, "spread", b.name) > 0, timeout=30)
        # host a dies mid-fit: its workers are SIGKILLed together
        wait_until(lambda: _running_on(conn, a.name), timeout=30)
        a.kill_all()
        # host b is cut off while it holds a fit; host c starts and takes the work over
        wait_until(lambda: _running_on(conn, b.name), timeout=30)
        cut = time.monotonic()
        b.partition()
        c.start_worker(dsn)
        wait_until(lambda: _fitted_by(conn, "spread", c.name) > 0, timeout=30)
        taken_over = time.monotonic() - cut
        time.sleep(1.0)
    finally:
        stop.set()
        writer.join()
    # host b joins again: whatever it was committing is fenced off, and it fits again
    b.heal()
    wait_until(lambda: drained(conn, "spread"), timeout=90)
    check(conn, "spread", "3 hosts: one SIGKILLed, one partitioned and healed", [taken_over])
    abandoned = conn.execute(
        "SELECT count(*) FROM motion.runs WHERE trigger_name = 'spread' AND state = 'abandoned'"
    ).fetchone()
    assert abandoned is not None and abandoned[0] >= 2  # host a's and host b's runs were reclaimed


def test_host_with_other_code_leaves_the_trigger_to_others(
    conn: psycopg.Connection[Any], dsn: str, hosts: list[Host]
) -> None:
    a, b, _ = hosts
    create_tally(conn, "deployed")
    chaos = b.code / "motion_test_apps" / "chaos.py"
    chaos.write_text(chaos.read_text() + "\n# a change not deployed\n")
    b.start_worker(dsn)
    conn.execute("INSERT INTO deployed (value) SELECT g FROM generate_series(1, 20) g")
    wait_until(lambda: "not fitting motion trigger" in b.log(), timeout=30)
    time.sleep(1.0)  # host b had time to claim again, and did not
    row = conn.execute(
        "SELECT count(*) FILTER (WHERE state = 'pending'), max(attempts) FROM motion.jobs"
        " WHERE trigger_name = 'deployed'"
    ).fetchone()
    assert row == (20, 0)
    log = b.log()
    assert (
        'not fitting motion trigger "deployed" on this host: the code on this host differs' in log
    )
    assert "motion-pg worker --path DIR" in log and "RELOAD" in log
    a.start_worker(dsn)  # a host with the deployed code fits every event, each at its first attempt
    wait_until(lambda: drained(conn, "deployed"), timeout=60)
    check(conn, "deployed", "a host with undeployed code next to one with the deployed code", [])
    attempts = conn.execute(
        "SELECT max(attempts) FROM (SELECT attempts FROM motion.jobs WHERE trigger_name = 'deployed'"
        " UNION ALL SELECT attempts FROM motion.job_log WHERE trigger_name = 'deployed') j"
    ).fetchone()
    assert attempts == (1,)
    runs = conn.execute(
        "SELECT split_part(worker_id, ':', 1), state, count(*), min(error) FROM motion.runs"
        " WHERE trigger_name = 'deployed' GROUP BY 1, 2 ORDER BY 1"
    ).fetchall()
    fitted = [(host, n) for host, state, n, _ in runs if state == "succeeded"]
    assert [host for host, _ in fitted] == [a.name]
    # host b claimed once, handed it back unspent, and never claimed it again
    assert [(host, state, n) for host, state, n, _ in runs if host == b.name] == [
        (b.name, "abandoned", 1)
    ]
    assert runs[-1][3].startswith("not fitted on this host: the code on this host differs")


def _running_on(conn: psycopg.Connection[Any], host: str) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM motion.runs WHERE state = 'running' AND worker_id LIKE %s",
        [host + ":%"],
    ).fetchone()
    return row is not None and row[0] > 0


def _fitted_by(conn: psycopg.Connection[Any], name: str, host: str) -> int:
    row = conn.execute(
        "SELECT count(*) FROM motion.runs WHERE trigger_name = %s AND state = 'succeeded'"
        " AND worker_id LIKE %s",
        [name, host + ":%"],
    ).fetchone()
    return row[0] if row is not None else 0
