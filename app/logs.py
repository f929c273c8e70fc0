"""Logging levels from the environment, per module.

CAMPFIRE_LOG="info,app.realtime=debug,aiohttp.access=warning" sets the root level and two modules.
"""

from __future__ import annotations

import logging
import time

# A log line repeated more than this often in one window (per logger, level and format) is
# dropped, and the count of dropped lines reported once the window ends: a client sending a
# bad frame 200 times, or every request failing alike during an outage, writes a few lines,
# not a traceback each (125 KB in 10 s before).
REPEATS_PER_WINDOW = 10
# Lines with a traceback are a few kilobytes each: fewer of them.
TRACEBACKS_PER_WINDOW = 2
WINDOW_SECONDS = 10.0


class RepeatFilter(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self._windows: dict[tuple[str, int, str], list[float]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, str(record.msg))
        now = time.monotonic()
        window = self._windows.get(key)
        if window is None or now - window[0] >= WINDOW_SECONDS:
            dropped = int(window[2]) if window is not None else 0
            if len(self._windows) > 10_000:  # bounded: formats are few, but never trust it
                self._windows.clear()
            self._windows[key] = [now, 1, 0]
            if dropped:
                record.msg = f"{record.msg} [{dropped} like this dropped in the last window]"
            return True
        window[1] += 1
        if window[1] <= (TRACEBACKS_PER_WINDOW if record.exc_info else REPEATS_PER_WINDOW):
            return True
        window[2] += 1
        return False


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
    repeats = RepeatFilter()
    for handler in logging.getLogger().handlers:
        handler.addFilter(repeats)
    # python-engineio and python-socketio give their loggers a handler of their own (printing
    # every error twice, and past the filter above) unless a level is set first.
    for name in ("engineio.server", "socketio.server"):
        library = logging.getLogger(name)
        if library.level == logging.NOTSET:
            library.setLevel(logging.ERROR)
        library.addFilter(repeats)
    for name, level in per_module.items():
        logging.getLogger(name).setLevel(level)
