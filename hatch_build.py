"""Build hook: the wheel carries the files ``install``, the worker, the server and the demo read.

They stay where they are edited (``sql/``, ``extension/``, ``examples/support_tickets/``) and are
copied under the package only into a built wheel, where ``motion_pg`` looks for them
(``motion_pg/_sql``, ``motion_pg/_extension``, ``motion_pg/_examples``). An editable install
reads them from the checkout and gets no copies.
"""

from __future__ import annotations

import os
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

PACKAGE_DATA = {
    "sql": "motion_pg/_sql",
    "extension": "motion_pg/_extension",
    "examples/support_tickets": "motion_pg/_examples/support_tickets",
}


class PackageDataHook(BuildHookInterface):  # type: ignore[type-arg]
    """Adds :data:`PACKAGE_DATA` to standard (not editable) wheels."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version == "editable":
            return
        for source, target in PACKAGE_DATA.items():
            build_data["force_include"][os.path.join(self.root, source)] = target
