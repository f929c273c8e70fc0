"""Web Push delivery as a background job (PROTOCOL.md section 9.2).

`PushBatcher` sits in each web process: a sent message is appended to a buffer (no I/O on
the send path), and every `push_batch_seconds` the buffer becomes ONE job, whatever the
number of messages or recipients in it. The job runs in the arq worker (REDIS_URL set) or as
a task of the web process (no Redis); either way it is `push_messages` below, over
`PushService.deliver`, which reads every recipient of the batch in one statement.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from app.schemas import MessageOut
from app.services.push import sent_message

log = logging.getLogger(__name__)

Submit = Callable[[list[dict[str, Any]]], Awaitable[None]]
# A flush that cannot hand its batch over (the queue is down) keeps at most this many
# messages for the next try; pushes are best-effort, the messages themselves are stored.
MAX_PENDING = 10_000


async def push_messages(ctx: dict[str, Any], messages: list[dict[str, Any]]) -> int:
    """Send the pushes of a batch of stored messages; returns how many were accepted."""
    return await ctx["services"].push.deliver(messages)


class PushBatcher:
    def __init__(self, submit: Submit, window: float) -> None:
        self._submit = submit
        self._window = window
        self._pending: list[dict[str, Any]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def message_stored(self, message: MessageOut) -> None:
        if len(self._pending) >= MAX_PENDING:
            return
        self._pending.append(sent_message(message))
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._window, self._flush)

    def _flush(self) -> None:
        self._timer = None
        batch, self._pending = self._pending, []
        if batch:
            task = asyncio.ensure_future(self._hand_over(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _hand_over(self, batch: list[dict[str, Any]]) -> None:
        try:
            await self._submit(batch)
        except Exception:
            log.exception("could not start the push job for %d messages", len(batch))

    async def close(self) -> None:
        """Hand over what is buffered, and wait (briefly) for the hand-overs."""
        if self._timer is not None:
            self._timer.cancel()
            self._flush()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
