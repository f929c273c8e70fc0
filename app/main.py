"""Assembles one Campfire web process: database, state, Socket.IO, HTTP API, jobs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

from aiohttp import web

from app import debug_tasks
from app.config import Settings
from app.db import Database
from app.http import setup_http
from app.metrics import Metrics
from app.realtime.delivery import SocketIONotifier
from app.realtime.engineio_seam import create_server, inbox_channel
from app.realtime.gateway import Cursors, RealtimeGateway
from app.services import Services
from app.state import MemoryState, RealtimeState

log = logging.getLogger(__name__)

services_key = web.AppKey("services", Services)
gateway_key = web.AppKey("gateway", RealtimeGateway)


def create_state(settings: Settings) -> RealtimeState:
    if settings.redis_url:
        from app.state.redis import RedisState

        return RedisState.from_url(settings.redis_url, prefix=settings.redis_prefix)
    return MemoryState()


def create_app(settings: Settings | None = None) -> web.Application:
    settings = settings or Settings()
    app = web.Application(client_max_size=1024 * 1024)
    metrics = Metrics()
    db = Database(
        settings.database_url,
        pool_size=settings.db_pool_size,
        pool_timeout=settings.db_pool_timeout,
    )
    state = create_state(settings)
    sio = create_server(settings)
    notifier = SocketIONotifier(sio, metrics)
    services = Services.build(settings, db, state, notifier, metrics)
    process_id = uuid.uuid4().hex

    if settings.redis_url:
        from jobs.dispatch import ArqJobs

        inbox = inbox_channel(sio) if settings.replay_inbox else None
        jobs = ArqJobs(settings, services, inbox=inbox)
    else:
        from jobs.scheduler import InProcessScheduler

        jobs = InProcessScheduler(services)
    services.attachments.thumbnailer = jobs.thumbnail
    services.bots.queue = jobs

    async def backfill(sid: str, room_ids: list[str], cursors: Cursors) -> None:
        await jobs.backfill(
            sid, room_ids, cursors.last_seen, cursors.last_seen_message_id, cursors.last_rev
        )

    from jobs.push import PushBatcher

    pushes = PushBatcher(jobs.push, settings.push_batch_seconds)
    services.messages.on_stored.append(pushes.message_stored)

    gateway = RealtimeGateway(sio, services, process_id, backfill)
    gateway.register()
    sio.attach(app, socketio_path="socket.io")
    app[services_key] = services
    app[gateway_key] = gateway
    setup_http(app, services)

    heartbeat: list[asyncio.Task[None]] = []
    audit = None
    if settings.redis_url and settings.fanout_audit_seconds > 0:
        from app.realtime.recovery import FanoutAudit

        if FanoutAudit.supports(sio.manager):
            audit = FanoutAudit(sio.manager, services, settings.fanout_audit_seconds)

    async def on_startup(_: web.Application) -> None:
        _track_for_debug(sio, gateway, services, audit, state, jobs)
        debug_tasks.install(asyncio.get_running_loop())
        db.start_checkpoints()
        jobs.start()
        if audit is not None:
            audit.start()
        heartbeat.append(asyncio.create_task(gateway.heartbeat_loop()))
        log.info("campfire process %s started", process_id)

    async def on_shutdown(_: web.Application) -> None:
        await gateway.shutdown()

    async def on_cleanup(_: web.Application) -> None:
        for task in heartbeat:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await pushes.close()
        await jobs.stop()
        if audit is not None:
            await audit.stop()
        await sio.shutdown()
        await services.close()
        await state.close()
        await db.close()

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    app.on_cleanup.append(on_cleanup)
    return app


def _track_for_debug(
    sio: Any, gateway: RealtimeGateway, services: Services, audit: Any, state: Any, jobs: Any
) -> None:
    """The per-socket and per-room structures the soak's task dump reports the size of."""
    if not debug_tasks.enabled():
        return
    manager = sio.manager
    debug_tasks.track("gateway.live", lambda: gateway.live)
    debug_tasks.track("gateway.tasks", lambda: gateway._tasks)
    debug_tasks.track("eio.sockets", lambda: sio.eio.sockets)
    debug_tasks.track("eio.sockets_without_live_session", lambda: _orphans(sio, gateway))
    debug_tasks.track("sio.rooms", lambda: manager.rooms.get("/", {}))
    debug_tasks.track("sio.rooms_of_sid", lambda: getattr(manager, "rooms_of_sid", {}))
    debug_tasks.track("sio.pending_callbacks", lambda: getattr(manager, "callbacks", {}))
    debug_tasks.track("typing.relayed", lambda: services.typing._relayed)
    debug_tasks.track("messages.room_queue", lambda: services.messages._room_queue)
    debug_tasks.track("messages.publishing", lambda: services.messages._publishing)
    if audit is not None:
        debug_tasks.track("audit.rooms", lambda: audit._rooms)
    # Redis connections checked out of each pool: a pool at its bound makes every command wait.
    debug_tasks.track("redis.state_in_use", lambda: state.redis.connection_pool._in_use_connections)
    debug_tasks.track(
        "redis.pubsub_in_use", lambda: manager.redis.connection_pool._in_use_connections
    )
    debug_tasks.track(
        "redis.arq_in_use", lambda: jobs._pool_task.result().connection_pool._in_use_connections
    )


def _orphans(sio: Any, gateway: RealtimeGateway) -> list[str]:
    """Engine.IO sockets, by state, that no live Socket.IO connection of the gateway owns."""
    owned = {sio.manager.eio_sid_from_sid(sid, "/") for sid in list(gateway.live)}
    return [
        f"closed={s.closed} closing={s.closing} connected={s.connected} "
        f"upgraded={s.upgraded} writer={getattr(s, 'writer', None) is not None}"
        for eio_sid, s in list(sio.eio.sockets.items())
        if eio_sid not in owned
    ]
