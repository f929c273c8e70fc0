"""The job functions as the arq worker runs them, against real Redis and a real database.

Each test builds the worker's own context (`jobs.worker.build_context`: RedisState, the
write-only Socket.IO Redis manager, the domain layer) under its own key prefix, and reads
what the jobs publish on that prefix's Socket.IO channel: exactly what the web processes
would receive and deliver. Time moves by an injected clock instead of sleeping.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from arq import Retry, Worker, func
from arq.connections import create_pool
from redis.asyncio import Redis

from app import models
from app.migrate import upgrade
from app.schemas import UserOut
from app.services import Principal, Services
from app.state.redis import RedisState
from jobs import tasks
from jobs import worker as arq_worker
from jobs.dispatch import BACKFILL_EXPIRES_SECONDS, ArqJobs, queue_name
from jobs.worker import WorkerConfig, build_context, close_context, schedule
from tests.scaleout_support import REDIS_URL, delete_redis_keys, free_port
from tests.test_state_contract import Clock

WAIT = 10.0


@dataclass
class Deployment:
    settings: WorkerConfig
    clock: Clock
    contexts: list[dict[str, Any]]
    channel: Redis

    async def context(self, redis_url: str | None = None) -> dict[str, Any]:
        """One more worker (its own connections), optionally emitting through another URL."""
        settings = self.settings
        if redis_url is not None:
            settings = settings.model_copy(update={"redis_url": redis_url})
        state = RedisState.from_url(REDIS_URL, prefix=settings.redis_prefix, clock=self.clock)
        ctx = await build_context(settings, state=state)
        ctx["job_try"] = 1
        self.contexts.append(ctx)
        return ctx


@pytest.fixture
async def deployment(tmp_path: Path) -> AsyncIterator[Deployment]:
    database_url = f"sqlite:///{tmp_path / 'jobs.sqlite3'}"
    settings = WorkerConfig(
        DATABASE_URL=database_url,
        REDIS_URL=REDIS_URL,
        redis_prefix=f"test-{uuid.uuid4().hex}",
        typing_timeout_seconds=5,
        presence_stale_seconds=300,
    )
    await asyncio.to_thread(upgrade, settings.database_url)
    channel = Redis.from_url(REDIS_URL, decode_responses=True)
    d = Deployment(settings, Clock(), [], channel)
    yield d
    for ctx in d.contexts:
        await close_context(ctx)
    await channel.aclose()
    await asyncio.to_thread(delete_redis_keys, settings.redis_prefix)


class Listener:
    """A subscriber on the deployment's Socket.IO channels, like a web process: the shared
    channel, every shard channel (the rooms' emits) and an inbox (`INBOX`)."""

    def __init__(self, redis: Redis, channel: str, shards: int = 32) -> None:
        # Subscribe replies kept: redis-py drops shard messages with them ignored.
        self._pubsub = redis.pubsub()
        self._channel = channel
        self._shards = shards

    async def __aenter__(self) -> Listener:
        await self._pubsub.subscribe(self._channel, inbox_of(self._channel))
        for index in range(self._shards):
            await self._pubsub.execute_command("SSUBSCRIBE", f"{self._channel}:shard:{index}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._pubsub.aclose()

    async def until_marker(self, redis: Redis) -> list[dict[str, Any]]:
        """Everything published before a marker we publish now (so nothing later is missed
        and nothing is waited for by a sleep). An inbox message comes as {"method": "inbox",
        "sid", "events"}; a shard message as the emit it carries."""
        marker = uuid.uuid4().hex
        await redis.publish(self._channel, json.dumps({"method": "marker", "id": marker}))
        seen: list[dict[str, Any]] = []

        async def read() -> None:
            while True:
                message = await self._pubsub.get_message(timeout=1.0)
                if message is None:
                    continue
                if message["type"] not in ("message", "smessage"):
                    continue
                raw = message["data"]
                if message["type"] == "smessage":
                    raw = raw[32:]  # the publisher's host id
                data = json.loads(raw)
                if message["channel"] == inbox_of(self._channel):
                    data = {"method": "inbox", **data}
                if data.get("method") == "marker" and data.get("id") == marker:
                    return
                seen.append(data)

        await asyncio.wait_for(read(), WAIT)
        return seen


INBOX_HOST = "test-web-process"


def inbox_of(channel: str) -> str:
    return f"{channel}:inbox:{INBOX_HOST}"


def emits(published: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [m for m in published if m["method"] == "emit" and m["event"] == event]


async def make_member(services: Services, name: str, room: models.Room | None = None):
    async with services.db.session() as db:
        user = models.User(name=name, email_address=f"{uuid.uuid4().hex}@test", password_hash="x")
        db.add(user)
        await db.flush()  # the user row first: the room refers to it
        if room is None:
            room = models.Room(name="room", kind="closed", creator_id=user.id)
            db.add(room)
        await db.flush()
        db.add(models.Membership(room_id=room.id, user_id=user.id))
        await db.commit()
    return user, room


async def room_with_one_message(services: Services, name: str) -> models.Room:
    """A room whose one member, `name`, has sent it one message: one to replay."""
    user, room = await make_member(services, name)
    await services.messages.send(
        Principal(user=UserOut.of(user), session_id="s"), room.id, "hi", via="http"
    )
    return room


def connection(user_id: str) -> Any:
    from app.state import ConnectionInfo

    connection_id = str(uuid.uuid4())
    return ConnectionInfo(connection_id, f"sid-{connection_id}", user_id, "session", "process")


# ---- typing expiry ---------------------------------------------------------------------


async def test_typing_expiry_announces_each_expiry_once_across_workers(
    deployment: Deployment,
) -> None:
    first, second = await deployment.context(), await deployment.context()
    state = first["services"].state
    typist = connection("typist")
    await state.add_connection(typist, max_per_user=5, max_total=0)
    await state.start_typing("room-1", "typist")
    await state.start_typing("room-2", "typist")
    deployment.clock.advance(3)
    await state.start_typing("room-2", "typist")  # refreshed: not due yet

    async with Listener(deployment.channel, f"{deployment.settings.redis_prefix}:socketio") as ch:
        deployment.clock.advance(2.5)
        counts = await asyncio.gather(
            tasks.typing_expiry(first), tasks.typing_expiry(second), tasks.typing_expiry(first)
        )
        published = await ch.until_marker(deployment.channel)
    assert sorted(counts) == [0, 0, 1]
    stops = emits(published, "TypingStop")
    assert len(stops) == 1
    assert stops[0]["room"] == "room:room-1"
    assert stops[0]["data"] == [{"user_id": "typist", "room_id": "room-1"}]
    assert stops[0]["skip_sid"] == [typist.sid]  # not back to the typist's own tabs
    assert await state.stop_typing("room-2", "typist") is True


# ---- presence cleanup --------------------------------------------------------------------


async def test_presence_cleanup_removes_stale_connections_and_announces_user_left(
    deployment: Deployment,
) -> None:
    ctx = await deployment.context()
    services: Services = ctx["services"]
    gone, room = await make_member(services, "Gone")
    alive, _ = await make_member(services, "Alive", room)
    gone_tabs = [connection(gone.id), connection(gone.id)]
    alive_tab = connection(alive.id)
    for info in [*gone_tabs, alive_tab]:
        await services.state.add_connection(info, max_per_user=5, max_total=0)

    async with Listener(deployment.channel, f"{deployment.settings.redis_prefix}:socketio") as ch:
        deployment.clock.advance(299)
        await services.state.heartbeat([alive_tab.connection_id])
        deployment.clock.advance(2)  # gone's tabs: 301 s without a heartbeat
        assert await tasks.presence_cleanup(ctx) == 2
        assert await tasks.presence_cleanup(ctx) == 0
        published = await ch.until_marker(deployment.channel)

    left = emits(published, "UserLeft")
    assert [(m["room"], m["data"]) for m in left] == [
        (f"room:{room.id}", [{"user_id": gone.id, "room_id": room.id}])
    ]
    # Each stale socket is told and closed by whichever web process holds it.
    goodbyes = emits(published, "Disconnect")
    assert sorted(m["room"] for m in goodbyes) == sorted(t.sid for t in gone_tabs)
    closes = [m for m in published if m["method"] == "disconnect"]
    assert sorted(m["sid"] for m in closes) == sorted(t.sid for t in gone_tabs)
    assert await services.state.online_users([gone.id, alive.id]) == {alive.id}


# ---- backfill ------------------------------------------------------------------------------


async def a_room_with_messages(
    deployment: Deployment, count: int
) -> tuple[dict[str, Any], models.Room, list[Any]]:
    """A worker's context, and a room with `count` messages sent by its one member."""
    ctx = await deployment.context()
    services: Services = ctx["services"]
    user, room = await make_member(services, "Reader")
    actor = Principal(user=UserOut.of(user), session_id="session")
    sent = [await services.messages.send(actor, room.id, f"m{i}", via="http") for i in range(count)]
    return ctx, room, sent


async def test_backfill_sends_missed_messages_then_sync_complete(
    deployment: Deployment,
) -> None:
    ctx, room, sent = await a_room_with_messages(deployment, 4)

    async with Listener(deployment.channel, f"{deployment.settings.redis_prefix}:socketio") as ch:
        replayed = await arq_worker.backfill(ctx, "sid-reader", [room.id], {room.id: 1}, None)
        published = await ch.until_marker(deployment.channel)
    assert replayed == 3
    to_socket = [m for m in published if m["method"] == "emit" and m["room"] == "sid-reader"]
    assert [m["event"] for m in to_socket] == ["NewMessage"] * 3 + ["SyncComplete"]
    assert [m["data"][0]["message"]["id"] for m in to_socket[:3]] == [
        s.message.id for s in sent[1:]
    ]
    assert to_socket[3]["data"] == [
        {
            "rooms": [{"room_id": room.id, "last_seq": 4, "last_rev": 0}],
            "missed_count": 3,
            "truncated": False,
        }
    ]


async def test_message_ids_are_time_ordered(deployment: Deployment) -> None:
    # UUIDv7: each id sorts after the ids of the messages stored before it.
    _, _, sent = await a_room_with_messages(deployment, 5)
    ids = [result.message.id for result in sent]
    assert {uuid.UUID(message_id).version for message_id in ids} == {7}
    assert ids == sorted(ids) and len(set(ids)) == 5


async def test_a_replay_queries_only_the_rooms_behind_their_cursors(
    deployment: Deployment,
) -> None:
    ctx, behind, sent = await a_room_with_messages(deployment, 3)
    services: Services = ctx["services"]
    current = await room_with_one_message(services, "Current")  # its head: seq 1
    db = services.db
    await db.read(lambda query: query("SELECT 1", {}))  # opens the loop's own connection
    assert db._inline_connection is not None
    statements: list[str] = []
    db._inline_connection.set_trace_callback(statements.append)
    try:
        replay = await services.messages.missed(
            [behind.id, current.id],
            last_seen={behind.id: 1, current.id: 1},
            last_rev={behind.id: 0, current.id: 0},
        )
    finally:
        db._inline_connection.set_trace_callback(None)
    assert [m["id"] for m in replay.messages] == [s.message.id for s in sent[1:]]
    assert replay.rooms == [
        {"room_id": behind.id, "last_seq": 3, "last_rev": 0},
        {"room_id": current.id, "last_seq": 1, "last_rev": 0},
    ]
    # One room behind, no room with changes: one replay statement, none for changes.
    assert sum("seq >" in sql for sql in statements) == 1
    assert sum("rev >" in sql for sql in statements) == 0


async def test_backfill_to_an_inbox_is_one_message_for_that_process_alone(
    deployment: Deployment,
) -> None:
    ctx, room, sent = await a_room_with_messages(deployment, 3)
    channel = f"{deployment.settings.redis_prefix}:socketio"

    async with Listener(deployment.channel, channel) as ch:
        replayed = await arq_worker.backfill(
            ctx, "sid-r", [room.id], {room.id: 1}, None, None, inbox=inbox_of(channel)
        )
        published = await ch.until_marker(deployment.channel)
    assert replayed == 2
    # Nothing to the socket on the shared or shard channels (the sends' own broadcasts may
    # arrive meanwhile): one message, on that process's inbox.
    assert not [m for m in published if m.get("room") == "sid-r"]
    assert [m for m in published if m["method"] == "inbox"] == [
        {
            "method": "inbox",
            "sid": "sid-r",
            "namespace": "/",
            "events": [
                [
                    "NewMessage",
                    {"message": sent[1].message.model_dump(mode="json"), "room_id": room.id},
                ],
                [
                    "NewMessage",
                    {"message": sent[2].message.model_dump(mode="json"), "room_id": room.id},
                ],
                [
                    "SyncComplete",
                    {
                        "rooms": [{"room_id": room.id, "last_seq": 3, "last_rev": 0}],
                        "missed_count": 2,
                        "truncated": False,
                    },
                ],
            ],
        }
    ]


async def test_a_replay_no_process_heard_is_retried(deployment: Deployment) -> None:
    # The inbox's process is resubscribing after a blip (or gone): a retry may reach it.
    ctx = await deployment.context()
    services: Services = ctx["services"]
    _, room = await make_member(services, "Reader")  # nothing missed: SyncComplete alone
    inbox = f"{deployment.settings.redis_prefix}:socketio:inbox:nobody"
    unheard = ctx["manager"]._unheard
    before = unheard._value.get()
    with pytest.raises(Retry):
        await arq_worker.backfill(ctx, "sid-x", [room.id], None, None, None, inbox=inbox)
    assert unheard._value.get() == before + 1
    rendered = services.metrics.render().decode()
    assert 'campfire_job_runs_total{job="backfill",outcome="error"} 1.0' in rendered
    assert ctx["manager"].failures == 1


async def test_lost_emits_are_counted_and_the_backfill_retried(deployment: Deployment) -> None:
    good = await deployment.context()
    user, room = await make_member(good["services"], "Reader")
    await good["services"].messages.send(
        Principal(user=UserOut.of(user), session_id="s"), room.id, "hello", via="http"
    )
    # A worker whose Socket.IO manager reaches no Redis at all (nothing listens there).
    broken = await deployment.context(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    metrics = broken["services"].metrics

    with pytest.raises(Retry):
        await arq_worker.backfill(broken, "sid-x", [room.id], None, None)
    assert metrics.emit_failures._value.get() == 2  # the message and SyncComplete
    assert broken["manager"].failures == 2

    broken["job_try"] = arq_worker.BACKFILL_TRIES  # the last try gives up, visibly
    assert await arq_worker.backfill(broken, "sid-x", [room.id], None, None) == 1
    assert metrics.emit_failures._value.get() == 4
    rendered = metrics.render().decode()
    assert 'campfire_job_runs_total{job="backfill",outcome="error"} 2.0' in rendered

    # A periodic job keeps going: its effect in state stands, the failure is counted.
    await broken["services"].state.start_typing(room.id, user.id)
    deployment.clock.advance(6)
    assert await tasks.typing_expiry(broken) == 1
    assert metrics.emit_failures._value.get() == 5


async def test_emits_nobody_hears_are_counted(deployment: Deployment) -> None:
    ctx = await deployment.context()
    await ctx["services"].notifier.to_connection("sid-nobody", "SyncComplete", {})
    rendered = ctx["services"].metrics.render().decode()
    assert "campfire_worker_unheard_emits_total 1.0" in rendered
    assert ctx["manager"].failures == 0


# ---- dispatch from a web process ---------------------------------------------------------


async def test_arq_jobs_enqueue_backfill_on_the_deployments_queue(
    deployment: Deployment,
) -> None:
    jobs = ArqJobs(deployment.settings)
    jobs.start()
    try:
        await jobs.backfill("sid-1", ["room-a"], {"room-a": 3}, None)
    finally:
        await jobs.stop()
    pool = await create_pool(arq_worker.redis_settings(deployment.settings))
    try:
        queued = await pool.queued_jobs(queue_name=queue_name(deployment.settings))
        assert [(j.function, j.args) for j in queued] == [
            ("backfill", ("sid-1", ["room-a"], {"room-a": 3}, None))
        ]
        # Not on arq's shared default queue, where another deployment's worker would take it.
        assert all(j.args[:1] != ("sid-1",) for j in await pool.queued_jobs())
        # Unrun, it would expire by itself (BACKFILL_EXPIRES_SECONDS); a replay nobody runs
        # must not stay in Redis forever.
        assert 0 < await pool.ttl(f"arq:job:{queued[0].job_id}") <= BACKFILL_EXPIRES_SECONDS
    finally:
        for job in await pool.queued_jobs(queue_name=queue_name(deployment.settings)):
            await pool.delete(f"arq:job:{job.job_id}")
        await pool.delete(queue_name(deployment.settings))
        await pool.aclose()


async def test_arq_jobs_replay_in_process_when_the_queue_is_unreachable(
    deployment: Deployment,
) -> None:
    ctx = await deployment.context()
    services: Services = ctx["services"]
    room = await room_with_one_message(services, "Reader")
    dead = deployment.settings.model_copy(
        update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"}
    )
    jobs = ArqJobs(dead, services=services)
    jobs.start()
    async with Listener(deployment.channel, f"{deployment.settings.redis_prefix}:socketio") as ch:
        try:
            await jobs.backfill("sid-r", [room.id], None, None)
        finally:
            await jobs.stop()
        published = await ch.until_marker(deployment.channel)
    to_socket = [m["event"] for m in published if m.get("room") == "sid-r"]
    assert to_socket == ["NewMessage", "SyncComplete"]
    rendered = services.metrics.render().decode()
    assert 'campfire_job_runs_total{job="backfill_enqueue",outcome="error"} 1.0' in rendered


async def test_arq_jobs_take_back_a_replay_no_worker_started(deployment: Deployment) -> None:
    ctx = await deployment.context()
    services: Services = ctx["services"]
    room = await room_with_one_message(services, "Waiter")
    # No worker runs on this deployment's queue: after the wait, the web process replays.
    settings = deployment.settings.model_copy(update={"replay_wait_seconds": 0.2})
    jobs = ArqJobs(settings, services=services)
    jobs.start()
    async with Listener(deployment.channel, f"{settings.redis_prefix}:socketio") as ch:
        try:
            await jobs.backfill("sid-w", [room.id], None, None)
            await asyncio.wait_for(asyncio.gather(*jobs._watchdogs), WAIT)
        finally:
            await jobs.stop()
        published = await ch.until_marker(deployment.channel)
    assert [m["event"] for m in published if m.get("room") == "sid-w"] == [
        "NewMessage",
        "SyncComplete",
    ]
    pool = await create_pool(arq_worker.redis_settings(settings))
    try:
        # Taken out of the queue: a worker starting later does not replay it a second time.
        assert await pool.queued_jobs(queue_name=queue_name(settings)) == []
    finally:
        await pool.aclose()
    rendered = services.metrics.render().decode()
    assert 'campfire_job_runs_total{job="backfill_takeover",outcome="ok"} 1.0' in rendered


async def _replay_after_the_queue_lost(
    deployment: Deployment, sid: str, *, finished: bool
) -> tuple[list[str], str]:
    """Queue a replay, then, within the wait, do to its keys what Redis restarting empty (or a
    FLUSHALL) does, or what a worker finishing it does; return the events published to `sid`
    and the metrics."""
    ctx = await deployment.context()
    services: Services = ctx["services"]
    room = await room_with_one_message(services, "Lost")
    # Long enough for this test to reach the keys first, even on a loaded machine.
    settings = deployment.settings.model_copy(update={"replay_wait_seconds": 5.0})
    jobs = ArqJobs(settings, services=services)
    jobs.start()
    pool = await create_pool(arq_worker.redis_settings(settings))
    async with Listener(deployment.channel, f"{settings.redis_prefix}:socketio") as ch:
        try:
            await jobs.backfill(sid, [room.id], None, None)
            [job] = await pool.queued_jobs(queue_name=queue_name(settings))
            await pool.delete(queue_name(settings), f"arq:job:{job.job_id}")
            if finished:  # as arq leaves a job it ran (the backfill's result is kept)
                await pool.set(f"arq:result:{job.job_id}", b"x", ex=60)
            await asyncio.wait_for(asyncio.gather(*jobs._watchdogs), WAIT)
        finally:
            await jobs.stop()
            await pool.delete(f"arq:result:{job.job_id}")
            await pool.aclose()
        published = await ch.until_marker(deployment.channel)
    events = [m["event"] for m in published if m.get("room") == sid]
    return events, services.metrics.render().decode()


async def test_arq_jobs_replay_in_process_a_replay_redis_lost_within_the_wait(
    deployment: Deployment,
) -> None:
    # Redis restarted empty (or was flushed) after the enqueue: no worker will ever see the
    # job, and the client would wait for its SyncComplete forever.
    events, rendered = await _replay_after_the_queue_lost(deployment, "sid-l", finished=False)
    assert events == ["NewMessage", "SyncComplete"]
    assert 'campfire_job_runs_total{job="backfill_takeover",outcome="lost"} 1.0' in rendered


async def test_arq_jobs_leave_a_replay_a_worker_finished(deployment: Deployment) -> None:
    events, rendered = await _replay_after_the_queue_lost(deployment, "sid-f", finished=True)
    assert events == []  # the worker sent it; the web process does not send it again
    assert "backfill_takeover" not in rendered


async def test_a_replay_an_older_worker_refuses_is_sent_by_the_web_process(
    deployment: Deployment,
) -> None:
    # A rolling upgrade with web processes first: a worker from before `inbox` fails the job
    # (arq calls it with an argument it does not take); the web process replays it itself.
    ctx = await deployment.context()
    services: Services = ctx["services"]
    room = await room_with_one_message(services, "Upgrading")
    settings = deployment.settings.model_copy(update={"replay_wait_seconds": 5.0})
    channel = f"{settings.redis_prefix}:socketio"

    async def backfill_before_inbox(
        ctx: dict[str, Any],
        sid: str,
        room_ids: list[str],
        last_seen: dict[str, int] | None = None,
        last_seen_message_id: str | None = None,
        last_rev: dict[str, int] | None = None,
    ) -> int:
        raise AssertionError("arq refuses the call before it runs")

    older = Worker(
        functions=[func(backfill_before_inbox, name="backfill", keep_result=60)],
        queue_name=queue_name(settings),
        redis_settings=arq_worker.redis_settings(settings),
        burst=True,
        poll_delay=0.05,
        handle_signals=False,
    )
    jobs = ArqJobs(settings, services=services, inbox=inbox_of(channel))
    jobs.start()
    async with Listener(deployment.channel, channel) as ch:
        try:
            await jobs.backfill("sid-u", [room.id], None, None)
            assert await older.main() is None  # burst: runs the queued job, then returns
            assert (older.jobs_complete, older.jobs_failed) == (0, 1)
            await asyncio.wait_for(asyncio.gather(*jobs._watchdogs), WAIT)
        finally:
            await older.close()
            await jobs.stop()
        published = await ch.until_marker(deployment.channel)
    assert [m["event"] for m in published if m.get("room") == "sid-u"] == [
        "NewMessage",
        "SyncComplete",
    ]
    rendered = services.metrics.render().decode()
    assert 'campfire_job_runs_total{job="backfill_takeover",outcome="failed"} 1.0' in rendered


@pytest.mark.parametrize("on", [True, False])
def test_a_web_process_names_its_inbox_in_its_replays_unless_told_not_to(
    deployment: Deployment, on: bool
) -> None:
    from app.main import create_app, services_key

    settings = deployment.settings.model_copy(update={"replay_inbox": on})
    services = create_app(settings)[services_key]
    jobs = services.bots.queue
    assert isinstance(jobs, ArqJobs)
    channel = f"{settings.redis_prefix}:socketio"
    if on:
        assert jobs._inbox is not None and jobs._inbox.startswith(f"{channel}:inbox:")
    else:
        assert jobs._inbox is None


# ---- schedule ------------------------------------------------------------------------------


def test_schedule_maps_intervals_onto_cron_fields() -> None:
    assert schedule(1) == {"second": set(range(60))}
    assert schedule(0.2) == {"second": set(range(60))}  # arq's granularity is a second
    assert schedule(15) == {"second": {0, 15, 30, 45}}
    assert schedule(60) == {"minute": set(range(60)), "second": {0}}
    assert schedule(300) == {"minute": set(range(0, 60, 5)), "second": {0}}
    assert schedule(7200) == {"hour": set(range(0, 24, 2)), "minute": {0}, "second": {0}}


def test_cron_jobs_follow_the_settings(deployment: Deployment) -> None:
    settings = deployment.settings.model_copy(
        update={"typing_sweep_seconds": 2.0, "presence_sweep_seconds": 30.0}
    )
    jobs = {job.name: job for job in arq_worker.cron_jobs(settings)}
    prefix = settings.redis_prefix
    typing = jobs[f"cron:{prefix}:typing_expiry"]
    presence = jobs[f"cron:{prefix}:presence_cleanup"]
    assert typing.unique and presence.unique
    assert typing.second == set(range(0, 60, 2))
    assert presence.second == {0, 30}
    assert queue_name(settings) == f"{prefix}:arq:queue"
