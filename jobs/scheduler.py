"""Runs the periodic jobs inside the web process when there is no Redis (and so no worker)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from app.services import Services
from jobs import tasks
from jobs.push import push_messages

log = logging.getLogger(__name__)

Job = Callable[[dict[str, Any]], Awaitable[int]]


class InProcessScheduler:
    def __init__(self, services: Services) -> None:
        self._ctx: dict[str, Any] = {"services": services}
        settings = services.settings
        self._schedule: list[tuple[Job, float]] = [
            (tasks.typing_expiry, settings.typing_sweep_seconds),
            (tasks.presence_cleanup, settings.presence_sweep_seconds),
            (tasks.sweep_orphan_attachments, settings.orphan_sweep_seconds),
        ]
        self._tasks: list[asyncio.Task[None]] = []
        self._thumbnails: dict[str, asyncio.Task[bool]] = {}
        self._pushing: set[asyncio.Task[None]] = set()
        self._oneoffs: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        for job, interval in self._schedule:
            self._tasks.append(asyncio.create_task(self._every(job, interval)))

    async def stop(self) -> None:
        if self._pushing:  # pushes under way get a moment to finish
            await asyncio.wait(self._pushing, timeout=2)
        for task in self._pushing:
            task.cancel()
        for task in [*self._tasks, *self._oneoffs]:
            task.cancel()
        for task in [*self._tasks, *self._oneoffs]:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def backfill(
        self,
        sid: str,
        room_ids: list[str],
        last_seen: dict[str, int] | None,
        last_seen_message_id: str | None,
        last_rev: dict[str, int] | None = None,
    ) -> None:
        await tasks.backfill(self._ctx, sid, room_ids, last_seen, last_seen_message_id, last_rev)

    def thumbnail(self, attachment_id: str) -> Awaitable[bool]:
        """Start the thumbnail job (once per attachment); awaiting the answer waits for it,
        and cancelling that wait leaves the job running."""
        task = self._thumbnails.get(attachment_id)
        if task is None:
            task = asyncio.create_task(tasks.make_thumbnail(self._ctx, attachment_id))
            self._thumbnails[attachment_id] = task
            task.add_done_callback(lambda _: self._thumbnails.pop(attachment_id, None))
        return asyncio.shield(task)

    async def push(self, messages: list[dict[str, Any]]) -> None:
        """Run a push job beside the web process's other work (never on the send path)."""
        task = asyncio.create_task(self._push(messages))
        self._pushing.add(task)
        task.add_done_callback(self._pushing.discard)

    async def _push(self, messages: list[dict[str, Any]]) -> None:
        metrics = self._ctx["services"].metrics
        try:
            await push_messages(self._ctx, messages)
            metrics.job_runs.labels("push_messages", "ok").inc()
        except Exception:
            metrics.job_runs.labels("push_messages", "error").inc()
            log.exception("push job for %d messages failed", len(messages))

    async def webhook(self, bot_id: str, message_id: str) -> None:
        """In the background, like arq would: the caller does not wait for the bot."""
        task = asyncio.create_task(self._once(tasks.webhook, bot_id, message_id))
        self._oneoffs.add(task)
        task.add_done_callback(self._oneoffs.discard)

    async def _once(self, job: Callable[..., Awaitable[Any]], *args: Any) -> None:
        metrics = self._ctx["services"].metrics
        try:
            await job(self._ctx, *args)
            metrics.job_runs.labels(job.__name__, "ok").inc()
        except Exception:
            metrics.job_runs.labels(job.__name__, "error").inc()
            log.exception("job %s failed", job.__name__)

    async def _every(self, job: Job, interval: float) -> None:
        metrics = self._ctx["services"].metrics
        name = job.__name__
        while True:
            await asyncio.sleep(interval)
            try:
                await job(self._ctx)
                metrics.job_runs.labels(name, "ok").inc()
            except Exception:
                metrics.job_runs.labels(name, "error").inc()
                log.exception("job %s failed", name)
