"""Small asyncio helpers for hot paths."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class KeptLoop:
    """`create_task` on a loop found once: `asyncio.create_task` and `ensure_future` ask
    `get_running_loop()`, a `getpid()` system call on Python 3.11, for every task (5% of the
    event loop's time per connecting socket, docs/benchmarks.md, session 13)."""

    __slots__ = ("_loop",)

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None

    def create_task(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        loop = self._loop
        if loop is None or loop.is_closed():
            loop = self._loop = asyncio.get_running_loop()
        return loop.create_task(coro)
