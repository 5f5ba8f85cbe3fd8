"""motion_pg: ML applications on live data, inside PostgreSQL."""

from motion_pg.errors import MotionError
from motion_pg.trigger import Context, Event, RouteInfo, Trigger

__all__ = ["Context", "Event", "MotionError", "RouteInfo", "Trigger", "execute"]
__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # executing needs psycopg; the backend imports this package without it, so load it lazily
    if name == "execute":
        from motion_pg.executor import execute

        return execute
    raise AttributeError(name)
