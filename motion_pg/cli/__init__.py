"""The ``motion-pg`` command line: one click group, commands grouped by concern in sibling modules."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="motion-pg")
def main() -> None:
    """motion_pg: ML applications on live data, inside PostgreSQL."""


def _register() -> None:
    # each module adds its commands to `main` on import
    import motion_pg.cli.dashboard_cmds  # noqa: F401
    from motion_pg.cli import (  # noqa: F401
        app_cmds,
        backfill_cmds,
        compare_cmds,
        drift_cmds,
        embedded_cmds,
        init_cmds,
        jobs_cmds,
        lineage_cmds,
        managed_cmds,
        metrics_cmds,
        prune_cmds,
        refit_cmds,
        replay_cmds,
        state_cmds,
        status_cmds,
        worker_cmds,
    )


_register()
