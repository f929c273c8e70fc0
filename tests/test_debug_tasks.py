"""The soak's task dump (app/debug_tasks.py) names the code path a waiting task took."""

from __future__ import annotations

import asyncio

from app import debug_tasks


async def _hold(lock: asyncio.Lock) -> None:
    async with lock:
        await asyncio.sleep(0)


async def _caller(lock: asyncio.Lock) -> None:
    await _hold(lock)


class _Accumulated:
    """Stands for objects that pile up: the dump must show them among its top types."""


async def test_chains_name_the_path_to_a_lock_and_objects_are_counted() -> None:
    lock = asyncio.Lock()
    await lock.acquire()
    waiters = [asyncio.ensure_future(_caller(lock)) for _ in range(3)]
    try:
        for _ in range(3):  # let every waiter reach the lock
            await asyncio.sleep(0)
        piled = [_Accumulated() for _ in range(50_000)]
        dump = debug_tasks.snapshot()
        chain = (
            "tests.test_debug_tasks._caller > tests.test_debug_tasks._hold"
            " > asyncio.locks._ContextManagerMixin.__aenter__ > asyncio.locks.Lock.acquire"
        )
        assert dump["by_chain"].get(chain) == 3
        assert dump["by_innermost"]["asyncio.locks.Lock.acquire"] == 3
        assert dump["objects_by_type"]["_Accumulated"] == len(piled)
    finally:
        lock.release()
        await asyncio.gather(*waiters)
