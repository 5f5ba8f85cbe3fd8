"""How the dashboard is bound and who may act through it."""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass, field

from motion_pg.errors import MotionError


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1); false for anything else,
    including ``0.0.0.0`` and host names (they may resolve to any interface)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class DashboardConfig:
    """A dashboard's database, address and admin token.

    ``token`` guards the admin actions (and every page when not bound to loopback); without one a
    loopback dashboard makes a random token and prints it at start.
    """

    dsn: str
    host: str = "127.0.0.1"
    port: int = 8000
    token: str = ""
    generated_token: bool = False
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)

    @property
    def loopback(self) -> bool:
        """Whether only this machine can reach the dashboard."""
        return is_loopback(self.host)

    @classmethod
    def checked(cls, dsn: str, host: str, port: int, token: str | None) -> DashboardConfig:
        """A config, refusing a non-loopback address without a token."""
        token = (token or "").strip()
        if not token and not is_loopback(host):
            raise MotionError(
                f"the dashboard refuses to listen on {host} without an admin token: anyone who "
                "reaches that address could retry and discard fit jobs",
                hint="pass --token (or set MOTION_DASHBOARD_TOKEN), or bind to 127.0.0.1",
            )
        if not token:
            return cls(dsn, host, port, secrets.token_urlsafe(18), generated_token=True)
        return cls(dsn, host, port, token)
