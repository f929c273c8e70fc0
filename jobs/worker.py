"""The arq worker (REDIS_URL set): `arq jobs.worker.WorkerSettings`, the Procfile's `worker`.

It runs the same job functions as the embedded scheduler (jobs/tasks.py) over the same domain
layer, with `RedisState` for the shared state and a write-only Socket.IO Redis manager for
emitting: the web processes subscribed to the channel deliver to their own sockets.

- typing expiry and presence cleanup are arq cron jobs with `unique=True`: every worker
  schedules them, one runs each tick. Correctness does not rest on that uniqueness:
  `expire_typing` and `remove_connection` are atomic, so even a tick run twice announces
  each TypingStop and UserLeft once.
- backfill is enqueued by a web process (jobs/dispatch.py) when a client authenticates.

A failed emit is only logged by python-socketio; the worker's emitter (built in
app.realtime.engineio_seam, like every use of the libraries' internals) raises it into
`SocketIONotifier` instead, which counts it in `campfire_emit_failures`, and a replay that
lost an emit is retried (the client drops the duplicates by message id). Metrics are served
on CAMPFIRE_WORKER_METRICS_PORT when set.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, ClassVar

from aiohttp import web
from arq import Retry, cron
from arq.cron import CronJob
from arq.worker import Function, func

from app.config import Settings
from app.db import Database
from app.metrics import Metrics
from app.realtime.delivery import SocketIONotifier
from app.realtime.engineio_seam import WorkerRedisManager, create_worker_emitter
from app.services import Services
from app.state import RealtimeState
from app.state.redis import RedisState
from jobs import push, tasks
from jobs.dispatch import queue_name, redis_settings

log = logging.getLogger(__name__)

BACKFILL_TRIES = 3


class WorkerConfig(Settings):
    """Settings of the web processes plus the worker's own (CAMPFIRE_WORKER_...)."""

    # How often the worker looks for queued jobs: the delay a backfill may wait to start.
    worker_poll_seconds: float = 0.1
    worker_max_jobs: int = 50
    # Serve Prometheus metrics of the worker on this port (0: off).
    worker_metrics_port: int = 0
    worker_metrics_host: str = "127.0.0.1"
    # How long arq keeps a finished job's result (0: not at all).
    worker_keep_result_seconds: float = 0.0


async def build_context(
    settings: Settings, *, state: RealtimeState | None = None
) -> dict[str, Any]:
    """What every job gets in `ctx`: the domain layer over Redis, the database and the
    write-only manager. `state` lets tests bring a RedisState with their own clock."""
    if not settings.redis_url:
        raise RuntimeError(
            "the arq worker needs REDIS_URL (without it, `campfire serve` runs the jobs itself)"
        )
    metrics = Metrics()
    db = Database(
        settings.database_url,
        pool_size=settings.db_pool_size,
        pool_timeout=settings.db_pool_timeout,
    )
    state = state or RedisState.from_url(settings.redis_url, prefix=settings.redis_prefix)
    manager = create_worker_emitter(
        settings.redis_url,
        channel=f"{settings.redis_prefix}:socketio",
        metrics=metrics,
        shards=settings.pubsub_shards,
    )
    notifier = SocketIONotifier(manager, metrics)
    services = Services.build(settings, db, state, notifier, metrics)
    ctx: dict[str, Any] = {"services": services, "manager": manager, "settings": settings}
    # Messages stored here (a bot's webhook reply) notify like any other: batched into push
    # jobs run in this worker, as the web processes' batchers hand theirs over to it.
    pushes = push.PushBatcher(lambda batch: push_messages(ctx, batch), settings.push_batch_seconds)
    services.messages.on_stored.append(pushes.message_stored)
    ctx["pushes"] = pushes
    return ctx


async def close_context(ctx: dict[str, Any]) -> None:
    services: Services | None = ctx.get("services")
    if services is None:
        return
    if "pushes" in ctx:
        await ctx["pushes"].close()
    await services.close()
    await services.state.close()
    await services.db.close()
    await ctx["manager"].close()


# ---- the jobs as arq runs them ------------------------------------------------------


def _counted(job: Any, name: str) -> Any:
    """Count runs like the embedded scheduler does, so both runners report alike."""

    async def run(ctx: dict[str, Any]) -> int:
        metrics = ctx["services"].metrics
        try:
            result = await job(ctx)
        except Exception:
            metrics.job_runs.labels(name, "error").inc()
            raise
        metrics.job_runs.labels(name, "ok").inc()
        return int(result)

    run.__qualname__ = run.__name__ = name
    return run


typing_expiry = _counted(tasks.typing_expiry, "typing_expiry")
presence_cleanup = _counted(tasks.presence_cleanup, "presence_cleanup")
sweep_orphan_attachments = _counted(tasks.sweep_orphan_attachments, "sweep_orphan_attachments")


async def backfill(
    ctx: dict[str, Any],
    sid: str,
    room_ids: list[str],
    last_seen: dict[str, int] | None = None,
    last_seen_message_id: str | None = None,
    last_rev: dict[str, int] | None = None,
    inbox: str | None = None,
) -> int:
    """tasks.backfill, retried when one of its emits never reached Redis (or, sent to the
    inbox of the process holding the socket, nobody heard it): a replay missing a message or
    its SyncComplete would leave the client waiting. Resending is safe, since clients drop
    duplicates by message id. `inbox` comes from web processes since session 12; a job
    without it (queued by an older one) is replayed emit by emit on the shared channel."""
    manager: WorkerRedisManager = ctx["manager"]
    metrics = ctx["services"].metrics
    failures = manager.failures
    replayed = await tasks.backfill(
        ctx, sid, room_ids, last_seen, last_seen_message_id, last_rev, inbox=inbox
    )
    if manager.failures == failures:
        metrics.job_runs.labels("backfill", "ok").inc()
        return replayed
    metrics.job_runs.labels("backfill", "error").inc()
    tries = int(ctx.get("job_try", 1))
    if tries < BACKFILL_TRIES:
        log.warning("backfill of %s lost an emit; retrying (try %d)", sid, tries)
        raise Retry(defer=tries)
    log.error("backfill of %s lost an emit %d times; the client recovers by cursor", sid, tries)
    return replayed


# ---- schedule ------------------------------------------------------------------------


def schedule(interval: float) -> dict[str, Any]:
    """arq cron fields for "every `interval` seconds".

    arq's cron has whole-second granularity, so intervals below a second run every second.
    An interval that does not divide a minute (or an hour) evenly restarts at the top of it.
    """
    seconds = max(1, round(interval))
    if seconds < 60:
        return {"second": set(range(0, 60, seconds))}
    minutes = max(1, round(seconds / 60))
    if minutes < 60:
        return {"minute": set(range(0, 60, minutes)), "second": {0}}
    hours = max(1, round(minutes / 60))
    return {"hour": set(range(0, 24, min(hours, 24))), "minute": {0}, "second": {0}}


def cron_jobs(settings: Settings) -> list[CronJob]:
    def every(job: Any, interval: float, timeout: float) -> CronJob:
        return cron(
            job,
            # The name is part of the unique job id, and arq's job keys are not per queue:
            # the prefix keeps two deployments on one Redis from skipping each other's ticks.
            name=f"cron:{settings.redis_prefix}:{job.__name__}",
            unique=True,
            # Kept a little while, so that a late worker finds this tick already done.
            keep_result=max(5.0, interval),
            timeout=timeout,
            microsecond=0,
            **schedule(interval),
        )

    return [
        every(typing_expiry, settings.typing_sweep_seconds, timeout=30),
        every(presence_cleanup, settings.presence_sweep_seconds, timeout=300),
        every(sweep_orphan_attachments, settings.orphan_sweep_seconds, timeout=600),
    ]


async def push_messages(ctx: dict[str, Any], messages: list[dict[str, Any]]) -> int:
    """jobs.push.push_messages, counted. Not retried by arq: each push retries itself
    (PushService), and a rerun would push the ones that had succeeded again."""
    metrics = ctx["services"].metrics
    try:
        sent = await push.push_messages(ctx, messages)
    except Exception:
        metrics.job_runs.labels("push_messages", "error").inc()
        raise
    metrics.job_runs.labels("push_messages", "ok").inc()
    return sent


async def webhook(ctx: dict[str, Any], bot_id: str, message_id: str) -> str:
    metrics = ctx["services"].metrics
    try:
        outcome = await tasks.webhook(ctx, bot_id, message_id)
    except Exception:
        metrics.job_runs.labels("webhook", "error").inc()
        raise
    metrics.job_runs.labels("webhook", "ok").inc()
    return outcome


async def make_thumbnail(ctx: dict[str, Any], attachment_id: str) -> bool:
    """tasks.make_thumbnail, counted (an image refused as hostile is an "ok" run: the job
    did its work and recorded that there is no thumbnail)."""
    metrics = ctx["services"].metrics
    try:
        made = await tasks.make_thumbnail(ctx, attachment_id)
    except Exception:
        metrics.job_runs.labels("make_thumbnail", "error").inc()
        raise
    metrics.job_runs.labels("make_thumbnail", "ok").inc()
    return made


def functions() -> list[Function]:
    return [
        # Its (tiny) result is kept a while: a web process waiting to take the replay back
        # tells "a worker ran it" from "Redis lost it" by it (jobs/dispatch.py).
        func(backfill, name="backfill", max_tries=BACKFILL_TRIES, timeout=60, keep_result=60),
        # Its result is kept a while: the web process that queued it waits for it.
        func(make_thumbnail, name="make_thumbnail", timeout=120, keep_result=120),
        func(push_messages, name="push_messages", max_tries=1, timeout=600),
        # One try: a bot that fails is logged and counted, never hammered.
        func(webhook, name="webhook", max_tries=1, timeout=30),
    ]


async def startup(ctx: dict[str, Any]) -> None:
    settings = WorkerSettings.settings
    from app.logs import configure

    # arq logs every job at INFO: two lines a second for the typing sweep alone. Its own
    # handler prints them already; CAMPFIRE_LOG="info,arq.worker=info" brings them back.
    logging.getLogger("arq").propagate = False
    logging.getLogger("arq.worker").setLevel(logging.WARNING)
    configure(settings.log)
    ctx.update(await build_context(settings))
    if settings.worker_metrics_port:
        ctx["metrics_runner"] = await _serve_metrics(ctx["services"].metrics, settings)
    log.info(
        "campfire worker started on queue %s (typing sweep %ss, presence sweep %ss)",
        WorkerSettings.queue_name,
        settings.typing_sweep_seconds,
        settings.presence_sweep_seconds,
    )


async def shutdown(ctx: dict[str, Any]) -> None:
    runner: web.AppRunner | None = ctx.get("metrics_runner")
    if runner is not None:
        await runner.cleanup()
    await close_context(ctx)


async def _serve_metrics(metrics: Metrics, settings: WorkerConfig) -> web.AppRunner:
    async def render(_: web.Request) -> web.Response:
        return web.Response(
            body=metrics.render(), headers={"Content-Type": "text/plain; version=0.0.4"}
        )

    app = web.Application()
    app.router.add_get("/metrics", render)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.worker_metrics_host, settings.worker_metrics_port).start()
    return runner


_settings = WorkerConfig()


class WorkerSettings:
    """Read by `arq jobs.worker.WorkerSettings` (and `arq --check`); from the environment."""

    settings: ClassVar[WorkerConfig] = _settings
    redis_settings = redis_settings(_settings)
    queue_name = queue_name(_settings)
    functions = functions()
    cron_jobs = cron_jobs(_settings)
    on_startup = startup
    on_shutdown = shutdown
    poll_delay = _settings.worker_poll_seconds
    max_jobs = _settings.worker_max_jobs
    keep_result = _settings.worker_keep_result_seconds
    # `arq --check` fails once a worker has not refreshed this for a minute.
    health_check_interval = timedelta(seconds=60)
