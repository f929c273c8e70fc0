"""Logging levels from the environment, per module.

CAMPFIRE_LOG="info,app.realtime=debug,aiohttp.access=warning" sets the root level and two modules.
"""

from __future__ import annotations

import logging


def configure(spec: str) -> None:
    root_level = logging.INFO
    # Alembic narrates every plugin it loads at INFO; that is noise at every start.
    per_module: dict[str, int] = {"alembic": logging.WARNING}
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        name, _, level = part.rpartition("=")
        value = logging.getLevelName(level.strip().upper())
        if not isinstance(value, int):
            raise ValueError(f"unknown log level {level!r} in CAMPFIRE_LOG")
        if name:
            per_module[name.strip()] = value
        else:
            root_level = value
    logging.basicConfig(
        level=root_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    for name, level in per_module.items():
        logging.getLogger(name).setLevel(level)
