"""Prometheus metrics: motion's figures per trigger, read from the catalog when scraped.

``motion-pg metrics --port N`` serves them alone; ``motion-pg worker --metrics-port N`` serves
them next to a worker. See :mod:`motion_pg.metrics.collector` for the names.
"""

from __future__ import annotations

from typing import Any

from motion_pg.metrics.collector import CatalogCollector

__all__ = ["CatalogCollector", "serve"]


def serve(dsn: str, port: int, host: str = "127.0.0.1") -> tuple[Any, CatalogCollector]:
    """Serve the metrics of the database at ``dsn`` over HTTP on ``host:port`` from a daemon
    thread; returns the server (``server.server_port`` is the bound port) and the collector."""
    from prometheus_client import CollectorRegistry, start_http_server

    registry = CollectorRegistry(auto_describe=False)
    collector = CatalogCollector(dsn)
    registry.register(collector)
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server, collector
