"""The dashboard's access rules without a database: binding, the off-loopback gate, SVG charts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from motion_pg.dashboard import charts
from motion_pg.dashboard.app import create_app
from motion_pg.dashboard.config import DashboardConfig, is_loopback
from motion_pg.errors import MotionError

UNREACHABLE = "postgresql://nobody@127.0.0.1:1/none"  # the gate answers before any page connects


def call(conf: DashboardConfig, method: str, path: str,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:  # fmt: skip
    """One request straight into the ASGI app: status, headers and body."""
    app = create_app(conf)
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "server": ("203.0.113.5", 8000), "client": ("203.0.113.9", 5000),
        "headers": [(k.lower().encode(), v.encode())
                    for k, v in {"host": "203.0.113.5:8000", **(headers or {})}.items()],
    }  # fmt: skip
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    found = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], found, body.decode()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("localhost", True),
     ("0.0.0.0", False), ("::", False), ("192.0.2.7", False), ("dashboard.example", False)],
)  # fmt: skip
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_a_non_loopback_address_needs_a_token() -> None:
    with pytest.raises(
        MotionError, match=r"refuses to listen on 0\.0\.0\.0 without an admin token"
    ):
        DashboardConfig.checked(UNREACHABLE, "0.0.0.0", 8000, None)
    assert DashboardConfig.checked(UNREACHABLE, "0.0.0.0", 8000, "t0ken").token == "t0ken"
    made_up = DashboardConfig.checked(UNREACHABLE, "127.0.0.1", 8000, "")
    assert made_up.generated_token and len(made_up.token) >= 20


def test_off_loopback_every_page_needs_the_token() -> None:
    conf = DashboardConfig(UNREACHABLE, host="0.0.0.0", token="t0ken")
    status, headers, _ = call(conf, "GET", "/triggers/x")
    assert status == 303 and headers["location"] == "/login?next=/triggers/x"
    assert call(conf, "GET", "/jobs", {"Authorization": "Bearer wrong"})[0] == 303
    assert call(conf, "POST", "/jobs/retry")[0] == 401
    status, _, body = call(conf, "GET", "/login")
    assert status == 200 and 'name="token"' in body and ">Dead jobs<" in body


def test_an_unreachable_database_is_a_503_that_says_so() -> None:
    conf = DashboardConfig(UNREACHABLE, token="t0ken")
    status, _, body = call(conf, "GET", "/")
    assert status == 503 and "cannot read the database: cannot connect to" in body


def test_time_chart_is_inline_svg_with_round_axis_and_failed_runs() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    points = [charts.Point(t0 + timedelta(seconds=i), v, bad=(i == 2))
              for i, v in enumerate([0.12, 0.3, 0.77])]  # fmt: skip
    svg = str(charts.time_chart(points, title="fit <latency>"))
    assert svg.startswith("<svg") and "<title>fit &lt;latency&gt;</title>" in svg
    assert ">800 ms<" in svg and ">200 ms<" in svg and 'class="dot bad"' in svg
    assert "no data yet" in str(charts.time_chart([], title="x"))
    assert charts.nice_ceiling(0.19) == 0.2 and charts.nice_ceiling(3) == 5
