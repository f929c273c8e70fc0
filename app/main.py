"""Assembles one Campfire web process: database, state, Socket.IO, HTTP API, jobs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

from aiohttp import web

from app.config import Settings
from app.db import Database
from app.http import setup_http
from app.metrics import Metrics
from app.realtime.delivery import SocketIONotifier
from app.realtime.engineio_seam import create_server
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
    db = Database(settings.database_url)
    state = create_state(settings)
    sio = create_server(settings)
    notifier = SocketIONotifier(sio, metrics)
    services = Services.build(settings, db, state, notifier, metrics)
    process_id = uuid.uuid4().hex

    if settings.redis_url:
        from jobs.dispatch import ArqJobs

        jobs = ArqJobs(settings, services)
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
