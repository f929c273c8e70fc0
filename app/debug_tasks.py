"""A debug-only dump of this process's asyncio tasks, for the soak to see what grows.

Off unless `CAMPFIRE_DEBUG_TASK_DUMP` names a file (`{pid}` in it replaced by the process id):
then SIGUSR1 writes one JSON object to it, `{"tasks": N, "by_coroutine": {"module.qualname":
count, ...}, "state": {...}}`, counts of the coroutines every live task runs (and, for tasks
waiting in an awaited coroutine, the innermost one, so that 500 handler tasks show what they
wait on). `state` holds the sizes of the process's per-socket and per-room structures
registered with `track`. A signal rather
than an HTTP endpoint so that nothing is exposed on the network even if the variable is set.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import json
import logging
import os
import signal
from collections.abc import Callable, Sized
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_tracked: dict[str, Callable[[], Sized]] = {}


def track(name: str, structure: Callable[[], Sized]) -> None:
    """Report len(structure()) in the dump under `name` (a per-socket or per-room map)."""
    _tracked[name] = structure


def _name(coro: Any) -> str:
    code = getattr(coro, "cr_code", None) or getattr(coro, "gi_code", None)
    qualname = getattr(coro, "__qualname__", None) or getattr(code, "co_qualname", "?")
    module = getattr(getattr(coro, "cr_frame", None), "f_globals", {}).get("__name__", "")
    return f"{module}.{qualname}" if module else str(qualname)


def _innermost(coro: Any) -> Any:
    # Follow cr_await down to the coroutine actually suspended (not a Future).
    seen = 0
    while seen < 50:
        inner = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
        if inner is None or not (hasattr(inner, "cr_code") or hasattr(inner, "gi_code")):
            return coro
        coro, seen = inner, seen + 1
    return coro


def _where(tb: Any) -> str:
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    return f"{code.co_filename.rsplit('/', 2)[-1]}:{code.co_name}:{tb.tb_lineno}"


def _chain(coro: Any) -> str:
    # The awaited coroutines from the task's own down to the innermost, so that tasks waiting
    # on the same lock can be told apart by the code path that took them there.
    names = []
    while coro is not None and len(names) < 50:
        names.append(_name(coro))
        inner = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
        awaits_coroutine = hasattr(inner, "cr_code") or hasattr(inner, "gi_code")
        coro = inner if awaits_coroutine else None
    return " > ".join(names)


# aiohttp's per-request objects and the websocket's own (engineio_seam/owned.py).
CONNECTION_TYPES = (
    "RequestHandler",
    "Request",
    "BaseRequest",
    "WebSocketResponse",
    "OwnedWebSocketResponse",
    "WebSocketConnection",
    "HandedOverRequest",
    "DirectSocket",
)


def snapshot() -> dict[str, Any]:
    tasks = asyncio.all_tasks()
    outer: collections.Counter[str] = collections.Counter()
    inner: collections.Counter[str] = collections.Counter()
    chains: collections.Counter[str] = collections.Counter()
    for task in tasks:
        coro = task.get_coro()
        outer[_name(coro)] += 1
        inner[_name(_innermost(coro))] += 1
        chains[_chain(coro)] += 1
    state = {}
    details = {}
    for name, structure in _tracked.items():
        try:
            found = structure()
            state[name] = len(found)
            if isinstance(found, list) and found and isinstance(found[0], str):
                details[name] = dict(collections.Counter(found).most_common(10))
        except Exception as exc:  # a dump must never take the process down
            state[name] = f"{type(exc).__name__}"
    # Live objects by type (those created after start-up: gc.freeze() hid the rest), so that
    # two dumps show which kind of object accumulates when memory grows.
    objects = gc.get_objects()
    types = collections.Counter(type(o).__qualname__ for o in objects)
    # Exceptions kept alive, and where their tracebacks end: exceptions caught into a cycle
    # (exception -> traceback -> frame -> exception) wait for the cyclic GC with all they hold.
    exceptions = collections.Counter(
        type(o).__qualname__ for o in objects if isinstance(o, BaseException)
    )
    traceback_ends = collections.Counter(
        _where(o) for o in objects if type(o).__name__ == "traceback"
    )
    return {
        "tasks": len(tasks),
        "objects_by_type": dict(types.most_common(40)),
        # A connection's own objects, whatever their rank: what must go when it ends.
        "connection_objects": {name: types.get(name, 0) for name in CONNECTION_TYPES},
        "exceptions_by_type": dict(exceptions.most_common(20)),
        "traceback_ends": dict(traceback_ends.most_common(20)),
        "by_coroutine": dict(outer.most_common()),
        "by_innermost": dict(inner.most_common()),
        "by_chain": dict(chains.most_common(25)),
        "state": state,
        "details": details,
    }


def enabled() -> bool:
    return bool(os.environ.get("CAMPFIRE_DEBUG_TASK_DUMP"))


def install(loop: asyncio.AbstractEventLoop) -> None:
    """Dump on SIGUSR1 when CAMPFIRE_DEBUG_TASK_DUMP is set (the soak sets it); else nothing."""
    target = os.environ.get("CAMPFIRE_DEBUG_TASK_DUMP")
    if not target:
        return
    path = Path(target.replace("{pid}", str(os.getpid())))  # processes sharing one setting

    def dump() -> None:
        try:
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(snapshot()))
            tmp.replace(path)  # the reader never sees half a dump
        except Exception:
            log.exception("task dump failed")

    loop.add_signal_handler(signal.SIGUSR1, dump)
