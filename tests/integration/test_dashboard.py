"""The dashboard end to end: a real `motion-pg dashboard` process, driven by Debian's headless
chromium through selenium (nothing downloads a browser or a driver), and its access rules."""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

import motion_pg
from motion_pg.worker import Worker

from .conftest import ROOT, motion_pg_cli

APPS = "motion_test_apps.dashboard"
TOKEN = "s3cret-admin-token"
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def run_worker(dsn: str) -> None:
    Worker(dsn, poll_interval=0.05).run(once=True)


@pytest.fixture
def scene(conn: psycopg.Connection[Any], dsn: str) -> int:
    """A trigger with five versions (fits, a params change) and a failing trigger with a dead
    job; returns the dead job's id."""
    conn.execute("CREATE TABLE items (id serial PRIMARY KEY, value int, seen_version int)")
    motion_pg.execute(
        conn, f"CREATE MOTION TRIGGER counter ON items USING '{APPS}:Counter' WITH (alpha = 1)"
    )
    for values in ("(1), (2)", "(3)"):
        conn.execute(f"INSERT INTO items (value) VALUES {values}")
        run_worker(dsn)
    motion_pg.execute(conn, "ALTER MOTION TRIGGER counter SET (alpha = 2, fit_batch = 5)")
    conn.execute("INSERT INTO items (value) VALUES (4), (5), (6)")
    run_worker(dsn)
    conn.execute("CREATE TABLE bad_items (id serial PRIMARY KEY, value int, seen_version int)")
    motion_pg.execute(
        conn,
        f"CREATE MOTION TRIGGER broken ON bad_items USING '{APPS}:Failing'"
        " WITH (max_attempts = 1, retry_delay = 0)",
    )
    conn.execute("INSERT INTO bad_items (value) VALUES (13)")
    run_worker(dsn)
    row = conn.execute("SELECT id FROM motion.jobs WHERE state = 'dead'").fetchone()
    assert row is not None
    return int(row[0])


def job_state(conn: psycopg.Connection[Any], job_id: int) -> str:
    row = conn.execute("SELECT state FROM motion.jobs WHERE id = %s", [job_id]).fetchone()
    assert row is not None
    return str(row[0])


class Dashboard:
    """A running `motion-pg dashboard` process."""

    def __init__(self, dsn: str, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "MOTION_DSN": dsn}
        env.pop("MOTION_DASHBOARD_TOKEN", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "motion_pg.cli", "dashboard", "--port", str(self.port), *args],
            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the dashboard exited: {self.proc.stdout.read()}")  # type: ignore[union-attr]
            try:
                if self.request("GET", "/")[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("the dashboard did not answer within 30 s")

    def request(self, method: str, path: str, fields: dict[str, str] | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, str]:  # fmt: skip
        """One HTTP request (redirects not followed): status and body."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        body = urllib.parse.urlencode(fields) if fields is not None else None
        all_headers = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
        c.request(method, path, body=body, headers=all_headers)
        response = c.getresponse()
        text = response.read().decode()
        c.close()
        return response.status, text

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def dashboard(dsn: str, scene: int) -> Iterator[Dashboard]:
    board = Dashboard(dsn, "--token", TOKEN)
    yield board
    board.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    """Debian's chromium, headless, through its chromedriver (no selenium manager)."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        reason = "chromium and chromium-driver are missing: run scripts/setup-system.sh as root"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1500,1100", "--hide-scrollbars"):  # fmt: skip
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def follow(driver: Any, element: Any) -> None:
    """Click a link or a submit button and wait until the next page has replaced this one.

    A click that starts a navigation can return before the new page exists; a lookup right
    after it may then search the old page (seen in CI: the flash message of a POST missing).
    The old page is marked with a window property that a new document does not have; asking
    an element handle whether it went stale is not used, because chromedriver sometimes answers
    that with an inspector error instead of a stale-element one (seen in CI)."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    driver.execute_script("window.__motionOldPage = true")
    element.click()

    def replaced(d: Any) -> bool:
        return bool(d.execute_script(
            "return !window.__motionOldPage && document.readyState === 'complete'"
        ))  # fmt: skip

    WebDriverWait(driver, 30, ignored_exceptions=(WebDriverException,)).until(replaced)


def shoot(driver: Any, path: Path) -> None:
    """A full-page screenshot: the window takes the page's height first (a page's height can
    change with the window's, so until it settles)."""
    for _ in range(3):
        height = int(driver.execute_script("return document.documentElement.scrollHeight"))
        inner = int(driver.execute_script("return window.innerHeight"))
        if inner >= height or inner >= 4000:
            break
        outer = driver.get_window_size()["height"]
        driver.set_window_size(1500, min(height + outer - inner, 4000))
    assert driver.save_screenshot(str(path)), f"no screenshot written to {path}"
    assert path.stat().st_size > 10_000


def test_browser_sees_triggers_charts_and_retries_a_dead_job(
    dashboard: Dashboard, browser: Any, conn: psycopg.Connection[Any], scene: int,
    tmp_path: Path,
) -> None:  # fmt: skip
    from selenium.webdriver.common.by import By

    dead_job = scene
    browser.get(dashboard.url + "/")
    row = browser.find_element(By.ID, "trigger-counter")
    assert "motion_test_apps.dashboard:Counter" in row.text and '"alpha": 2' in row.text
    assert browser.find_element(By.ID, "trigger-broken").find_element(By.CSS_SELECTOR, "a.bad")
    assert row.find_elements(By.CSS_SELECTOR, "svg.spark polyline")
    shoot(browser, tmp_path / "index.png")

    follow(browser, row.find_element(By.LINK_TEXT, "counter"))
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("counter")
    latency = browser.find_element(By.CSS_SELECTOR, "#latency-chart svg.chart")
    assert latency.find_elements(By.CSS_SELECTOR, "polyline.series")
    backlog = browser.find_element(By.CSS_SELECTOR, "#backlog-chart svg.chart")
    assert backlog.find_elements(By.CSS_SELECTOR, "polyline.series")
    # three rows inserted in one statement waited together: the axis goes up to 4
    labels = [t.text for t in backlog.find_elements(By.CSS_SELECTOR, "text.ylabel")]
    assert labels == ["0", "1", "2", "3", "4"]
    versions = browser.find_element(By.CSS_SELECTOR, "table.versions").text
    assert "alpha" in versions and "1 → 2" in versions.replace('"', "")  # the params diff
    assert "~count" in versions  # each fit changed the state key count
    shoot(browser, tmp_path / "trigger.png")
    if target := os.environ.get("MOTION_DASHBOARD_SCREENSHOT"):
        shutil.copy(tmp_path / "trigger.png", target)

    follow(browser, browser.find_element(By.LINK_TEXT, "state diff"))
    diff = browser.find_element(By.CSS_SELECTOR, "table.diff").text
    assert "count" in diff and "changed" in diff and "label" not in diff  # label never changes
    shoot(browser, tmp_path / "version.png")

    browser.get(f"{dashboard.url}/jobs?trigger=broken")
    job = browser.find_element(By.ID, f"job-{dead_job}")
    assert "this fit always fails" in job.text  # the traceback's last line
    assert not browser.find_elements(By.ID, f"retry-{dead_job}")  # not logged in: no buttons
    shoot(browser, tmp_path / "dead-jobs.png")
    follow(browser, job.find_element(By.PARTIAL_LINK_TEXT, "log in"))
    browser.find_element(By.ID, "token").send_keys(TOKEN)
    follow(browser, browser.find_element(By.ID, "login"))
    assert job_state(conn, dead_job) == "dead"
    follow(browser, browser.find_element(By.ID, f"retry-{dead_job}"))
    assert browser.find_element(By.ID, "message").text == "1 job(s) queued again"
    assert job_state(conn, dead_job) == "pending"
    shoot(browser, tmp_path / "jobs.png")


def test_refuses_a_non_loopback_address_without_a_token(dsn: str) -> None:
    started = time.monotonic()
    result = motion_pg_cli("dashboard", "--host", "0.0.0.0", "--port", str(free_port()),
                           dsn=dsn, check=False, timeout=30)  # fmt: skip
    assert result.returncode != 0
    assert "refuses to listen on 0.0.0.0 without an admin token" in result.stderr
    assert "--token" in result.stderr
    assert time.monotonic() - started < 30


def test_post_actions_need_the_token_and_the_csrf_check(
    dashboard: Dashboard, conn: psycopg.Connection[Any], scene: int
) -> None:
    job = {"job": str(scene)}
    assert dashboard.request("POST", "/jobs/retry", job)[0] == 403
    wrong = {"Authorization": "Bearer nope"}
    assert dashboard.request("POST", "/jobs/retry", job, wrong)[0] == 403
    assert dashboard.request("POST", "/login", {"token": "nope"})[0] == 403
    status, _ = dashboard.request("POST", "/login", {"token": TOKEN, "next": "/jobs"})
    assert status == 303
    # a cookie alone (what another site's form would send) is not enough: the CSRF token is missing
    cookie = {"Cookie": login_cookie(dashboard)}
    status, body = dashboard.request("POST", "/jobs/discard", job, cookie)
    assert status == 403 and "CSRF" in body
    csrf = page_csrf(dashboard, cookie)
    cross_site = {**cookie, "Origin": "http://evil.example"}
    assert dashboard.request("POST", "/jobs/discard", {**job, "csrf": csrf}, cross_site)[0] == 403
    assert job_state(conn, scene) == "dead"
    # the same form from the dashboard's own page, and a script with the header, may act
    status, _ = dashboard.request("POST", "/jobs/retry", {**job, "csrf": csrf}, cookie)
    assert status == 303 and job_state(conn, scene) == "pending"
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    status, _ = dashboard.request("POST", "/jobs/discard", job, bearer)
    assert status == 303
    left = conn.execute("SELECT count(*) FROM motion.jobs WHERE id = %s", [scene]).fetchone()
    assert left == (0,)


def login_cookie(board: Dashboard) -> str:
    c = http.client.HTTPConnection("127.0.0.1", board.port, timeout=10)
    c.request("POST", "/login", body=urllib.parse.urlencode({"token": TOKEN}),
              headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    response = c.getresponse()
    response.read()
    c.close()
    return response.getheader("set-cookie", "").split(";", 1)[0]


def page_csrf(board: Dashboard, headers: dict[str, str]) -> str:
    status, body = board.request("GET", "/jobs", headers=headers)
    assert status == 200
    marker = 'name="csrf" value="'
    return body.split(marker, 1)[1].split('"', 1)[0]


def test_lineage_lookup_shows_only_where_motion_lineage_exists(
    dashboard: Dashboard, conn: psycopg.Connection[Any]
) -> None:
    assert ">Lineage<" in dashboard.request("GET", "/")[1]
    status, body = dashboard.request("GET", "/lineage?relation=items&key=%7B%22id%22%3A+1%7D")
    assert status == 200, body
    assert "counter" in body and "&#34;version&#34;: 1" in body  # row 1 was inferred by version 1
    # a database whose schema has no motion.lineage (before 0.4): the page is hidden
    conn.execute("ALTER EXTENSION motion DROP FUNCTION motion.lineage(regclass, jsonb, integer)")
    conn.execute("DROP FUNCTION motion.lineage(regclass, jsonb, integer)")
    assert ">Lineage<" not in dashboard.request("GET", "/")[1]
    assert dashboard.request("GET", "/lineage")[0] == 404


@pytest.fixture
def views_scene(conn: psycopg.Connection[Any], dsn: str) -> None:
    """What the drift, compare and backlog views show: a drifted stream, a shadow experiment, and
    a trigger whose backlog backpressure cut (keep_latest = 5 of 20 events)."""
    from .test_drift import READINGS, normal, shifted

    conn.execute(READINGS)
    normal(conn, 300)
    motion_pg.execute(
        conn,
        "CREATE MOTION TRIGGER m ON readings (value, label) USING 'motion_test_apps.policies:Mean'"
        " WITH (on_drift = 'alert', drift_window = 100)",
    )
    shifted(conn, 100)
    conn.execute("CREATE TABLE items (id serial PRIMARY KEY, value int NOT NULL, label text,"
                 " score real)")  # fmt: skip
    exp = "motion_test_apps.experiments"
    motion_pg.execute(conn, f"CREATE MOTION TRIGGER a ON items USING '{exp}:Baseline'")
    motion_pg.execute(conn, f"CREATE MOTION TRIGGER b ON items SHADOW OF a USING '{exp}:Variant'")
    conn.execute("INSERT INTO items (value) SELECT g FROM generate_series(0, 7) g")
    conn.execute("CREATE TABLE tally (id serial PRIMARY KEY, value int, seen_version int)")
    motion_pg.execute(conn, f"CREATE MOTION TRIGGER tally ON tally USING '{APPS}:Counter'"
                      " WITH (keep_latest = 5)")  # fmt: skip
    for v in range(20):
        conn.execute("INSERT INTO tally (value) VALUES (%s)", [v])
    for _ in range(3):  # a worker checks drift when it starts, before or after it fits
        run_worker(dsn)
        if conn.execute("SELECT drifted FROM motion.drift_status").fetchone() == (True,):
            break


def test_browser_sees_drift_compare_and_backlog(
    views_scene: None, dsn: str, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    board = Dashboard(dsn)
    shots = Path(os.environ.get("MOTION_DASHBOARD_SHOTS") or tmp_path)
    try:
        browser.get(board.url + "/")
        follow(browser, browser.find_element(By.LINK_TEXT, "Drift"))
        card = browser.find_element(By.ID, "drift-m")
        assert "drifted since" in card.text and "on_drift = 'alert'" in card.text
        chart = card.find_element(By.CSS_SELECTOR, "svg.chart.bars")
        assert len(chart.find_elements(By.CSS_SELECTOR, "rect.bar")) == 3  # value, label, predicted
        assert len(chart.find_elements(By.CSS_SELECTOR, "rect.bar.bad")) == 2  # value, label
        assert chart.find_elements(By.CSS_SELECTOR, "line.mark")
        assert "ks_p_value" in card.find_element(By.TAG_NAME, "table").text
        shoot(browser, shots / "drift.png")

        follow(browser, browser.find_element(By.LINK_TEXT, "Compare"))
        row = browser.find_element(By.ID, "experiment-b")
        assert "shadow" in row.text and "a" in row.text
        follow(browser, row.find_element(By.LINK_TEXT, "compare"))
        report = browser.find_element(By.ID, "report")
        assert "both 8 (8 inferred by both)" in report.text
        agreement = report.find_element(By.CSS_SELECTOR, "#agreement-chart svg.chart.bars")
        assert "75.0% of 8 rows" in agreement.text  # label: 2 and 6 differ of 0..7
        confusion = report.find_element(By.CSS_SELECTOR, "table.confusion").text
        assert "even" in confusion and "odd" in confusion
        shoot(browser, shots / "compare.png")

        follow(browser, browser.find_element(By.LINK_TEXT, "Backlog"))
        tally = browser.find_element(By.ID, "backlog-tally")
        cells = [c.text for c in tally.find_elements(By.TAG_NAME, "td")]
        assert cells[5] == "keep_latest 5" and cells[7] == "15", cells  # 15 beyond the latest 5
        assert browser.find_element(By.ID, "backlog-chart-tally").find_elements(
            By.CSS_SELECTOR, "svg.chart"
        )
        shoot(browser, shots / "backlog.png")
    finally:
        board.stop()
