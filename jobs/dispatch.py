"""The web process's side of the arq queue (REDIS_URL set): enqueue jobs for the worker.

`ArqJobs` offers the interface of `jobs.scheduler.InProcessScheduler` (start, stop, backfill),
so `app.main` treats both runners alike. The periodic jobs are not started here: the arq
worker runs them as cron jobs, unique across workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.constants import in_progress_key_prefix, job_key_prefix, result_key_prefix
from arq.jobs import Job

from app.config import Settings
from app.outage import log_limited
from jobs import tasks
from jobs.push import push_messages

if TYPE_CHECKING:
    from app.services import Services

log = logging.getLogger(__name__)

# A replay nobody ran for this long is dropped: its client has long given up waiting and
# reconnected (the presence sweep removes dead connections on the same scale).
BACKFILL_EXPIRES_SECONDS = 300.0
# A bot's answer to a message minutes old would only confuse; drop it instead.
WEBHOOK_EXPIRES_SECONDS = 60.0

# KEYS: the queue, the job's key, its in-progress key, its result key. ARGV: the job id.
# Takes a queued job back before any worker started it: 1 when taken. A worker marks a job
# in progress (WATCHed, in a transaction) before reading it, so the two cannot both run it:
# either the mark exists and this refuses, or the job's key is gone when the worker reads it
# and arq drops it as expired. 0: a worker has it. 2: a worker has finished it (its result is
# kept a while for this; it may have failed). -1: Redis knows nothing of it any more
# (restarted empty, or flushed, within the wait): nobody will run it.
TAKE_BACK = """
if redis.call('EXISTS', KEYS[4]) == 1 then return 2 end
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then
  if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
  return -1
end
redis.call('DEL', KEYS[2])
return 1
"""


def queue_name(settings: Settings) -> str:
    """The arq queue of one deployment; the prefix keeps deployments (and test runs) that
    share a Redis server from taking each other's jobs."""
    return f"{settings.redis_prefix}:arq:queue"


def redis_settings(settings: Settings) -> RedisSettings:
    return RedisSettings.from_dsn(settings.redis_url or "redis://localhost:6379/0")


class ArqJobs:
    def __init__(
        self, settings: Settings, services: Services | None = None, *, inbox: str | None = None
    ) -> None:
        """`services`, when given, lets a web process replay missed messages itself when the
        queue cannot be reached, instead of leaving its client without SyncComplete. `inbox`
        is this process's own Redis channel, where the worker sends a replay in one message."""
        self._settings = settings
        self._services = services
        self._inbox = inbox
        self._queue = queue_name(settings)
        self._pool_task: asyncio.Task[ArqRedis] | None = None
        # Background work of this process: replay watchdogs, thumbnail enqueues.
        self._watchdogs: set[asyncio.Future[Any]] = set()

    def start(self) -> None:
        # Synchronous like InProcessScheduler.start (app.main calls it from on_startup);
        # the pool connects in the background and the first enqueue waits for it.
        self._pool_task = asyncio.ensure_future(self._connect())

    async def stop(self) -> None:
        for watchdog in list(self._watchdogs):
            watchdog.cancel()
        task, self._pool_task = self._pool_task, None
        if task is None:
            return
        if not task.done():
            task.cancel()
        with contextlib.suppress(BaseException):
            pool = await task
            await pool.aclose()

    async def backfill(
        self,
        sid: str,
        room_ids: list[str],
        last_seen: dict[str, int] | None,
        last_seen_message_id: str | None,
        last_rev: dict[str, int] | None = None,
    ) -> None:
        try:
            pool = await self._pool()
            # last_rev and inbox only when given: the job's arguments stay those an older
            # worker takes where they can (one that refuses `inbox` fails the job, and the
            # watchdog below replays it from here).
            extra = () if last_rev is None else (last_rev,)
            inbox = {} if self._inbox is None else {"inbox": self._inbox}
            job = await pool.enqueue_job(
                "backfill",
                sid,
                room_ids,
                last_seen,
                last_seen_message_id,
                *extra,
                _queue_name=self._queue,
                _expires=BACKFILL_EXPIRES_SECONDS,
                **inbox,
            )
        except Exception:
            if self._services is None:
                raise
            # The queue is unreachable: replay from here rather than not at all.
            log.exception("could not enqueue the backfill of %s; replaying in-process", sid)
            self._services.metrics.job_runs.labels("backfill_enqueue", "error").inc()
            await tasks.backfill(
                {"services": self._services},
                sid,
                room_ids,
                last_seen,
                last_seen_message_id,
                last_rev,
            )
            return
        if job is not None and self._services is not None:
            # No worker may be running (all of them down, or cut off from Redis): the client
            # must not wait for its SyncComplete forever.
            watchdog = asyncio.ensure_future(
                self._take_back_if_unstarted(
                    job.job_id, sid, room_ids, last_seen, last_seen_message_id, last_rev
                )
            )
            self._watchdogs.add(watchdog)
            watchdog.add_done_callback(self._watchdogs.discard)

    async def _take_back_if_unstarted(
        self,
        job_id: str,
        sid: str,
        room_ids: list[str],
        last_seen: dict[str, int] | None,
        last_seen_message_id: str | None,
        last_rev: dict[str, int] | None,
    ) -> None:
        assert self._services is not None
        await asyncio.sleep(self._settings.replay_wait_seconds)
        try:
            try:
                pool = await self._pool()
                taken = await pool.eval(
                    TAKE_BACK,
                    4,
                    self._queue,
                    job_key_prefix + job_id,
                    in_progress_key_prefix + job_id,
                    result_key_prefix + job_id,
                    job_id,
                )
            except Exception as exc:
                # Redis is away: whether a worker ran it cannot be known, and the client waits.
                # A replay twice is harmless (clients drop duplicates by id); none is not.
                log_limited(
                    log, logging.WARNING, "take-back", "replay check of %s failed: %r", sid, exc
                )
                taken = -1
            if taken == 2 and await self._succeeded(pool, job_id):
                return  # a worker sent the replay
            if not taken:
                return  # a worker has it: it sends the replay
            why = {1: "no worker started", -1: "Redis lost", 2: "a worker failed"}[taken]
            log.warning(
                "%s the replay of %s within %.1f s; replaying in-process",
                why,
                sid,
                self._settings.replay_wait_seconds,
            )
            outcome = {1: "ok", -1: "lost", 2: "failed"}[taken]
            self._services.metrics.job_runs.labels("backfill_takeover", outcome).inc()
            await tasks.backfill(
                {"services": self._services},
                sid,
                room_ids,
                last_seen,
                last_seen_message_id,
                last_rev,
            )
        except Exception:
            log.exception("the fallback replay of %s failed; the client recovers by cursor", sid)

    async def _succeeded(self, pool: ArqRedis, job_id: str) -> bool:
        """Whether the finished job `job_id` succeeded (a worker older than this process
        fails a replay whose arguments it does not take; so does one that lost the database)."""
        try:
            info = await Job(job_id, pool, _queue_name=self._queue).result_info()
        except Exception as exc:  # unreadable: as if it succeeded, as before this check
            log.warning("could not read the result of replay job %s: %r", job_id, exc)
            return True
        return info is None or info.success

    def thumbnail(self, attachment_id: str) -> Awaitable[bool]:
        """Queue the thumbnail job for the worker; awaiting the answer waits for its result.

        The upload bounds that wait and cancels it when it is up, so the enqueueing runs in a
        task of its own: a short wait, or a pool still connecting, must not leave the image
        without its job (it would stay without width and height for ever)."""
        enqueued = asyncio.ensure_future(self._enqueue_thumbnail(attachment_id))
        self._watchdogs.add(enqueued)
        enqueued.add_done_callback(self._watchdogs.discard)
        return self._thumbnail_result(enqueued)

    async def _enqueue_thumbnail(self, attachment_id: str) -> Job | bool | None:
        try:
            pool = await self._pool()
            return await pool.enqueue_job(
                "make_thumbnail",
                attachment_id,
                _queue_name=self._queue,
                _job_id=f"{self._settings.redis_prefix}:thumbnail:{attachment_id}",
            )
        except Exception:
            if self._services is None:
                raise
            # The queue is unreachable: make it here rather than not at all.
            log.exception(
                "could not enqueue the thumbnail of %s; making it in-process", attachment_id
            )
            self._services.metrics.job_runs.labels("thumbnail_enqueue", "error").inc()
            return await tasks.make_thumbnail({"services": self._services}, attachment_id)

    @staticmethod
    async def _thumbnail_result(enqueued: asyncio.Future[Job | bool | None]) -> bool:
        job = await asyncio.shield(enqueued)
        if job is None:  # already queued under that id
            return False
        if isinstance(job, bool):  # made in-process
            return job
        return bool(await job.result(timeout=None, poll_delay=0.1))

    async def push(self, messages: list[dict[str, Any]]) -> None:
        """One job for a batch of sent messages (jobs/push.py), run by the worker."""
        try:
            pool = await self._pool()
            await pool.enqueue_job("push_messages", messages, _queue_name=self._queue)
        except Exception:
            if self._services is None:
                raise
            log.exception("could not enqueue a push job; sending from this process")
            self._services.metrics.job_runs.labels("push_enqueue", "error").inc()
            await push_messages({"services": self._services}, messages)

    async def webhook(self, bot_id: str, message_id: str) -> None:
        try:
            pool = await self._pool()
            await pool.enqueue_job(
                "webhook",
                bot_id,
                message_id,
                _queue_name=self._queue,
                _expires=WEBHOOK_EXPIRES_SECONDS,
            )
        except Exception:
            # Not retried, like a failed delivery: the message itself is stored and seen.
            log.exception("could not enqueue the webhook of bot %s", bot_id)
            if self._services is not None:
                self._services.metrics.job_runs.labels("webhook_enqueue", "error").inc()

    async def _connect(self) -> ArqRedis:
        settings = redis_settings(self._settings)
        # A client is waiting for its SyncComplete: fail fast (and fall back) rather than
        # spend arq's default five seconds of reconnect attempts.
        settings.conn_retries = 1
        settings.conn_retry_delay = 0.2  # type: ignore[assignment]
        return await create_pool(settings, default_queue_name=self._queue)

    async def _pool(self) -> ArqRedis:
        if self._pool_task is None:
            self.start()
        assert self._pool_task is not None
        task = self._pool_task
        if task.done() and (task.cancelled() or task.exception() is not None):
            self.start()  # the last attempt failed (Redis was down): try again
            assert self._pool_task is not None
        # Shielded: one caller timing out or being cancelled must not cancel the shared pool.
        return await asyncio.shield(self._pool_task)
