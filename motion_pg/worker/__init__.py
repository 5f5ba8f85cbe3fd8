"""The fit worker: claims committed events from ``motion.jobs`` and runs the triggers' fit."""

from motion_pg.worker.runner import Worker

__all__ = ["Worker"]
