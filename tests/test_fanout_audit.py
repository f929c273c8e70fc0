"""The fan-out audit (app/realtime/recovery.py) against a real database, driven through the
hooks python-socketio's Redis manager calls (engineio_seam/pubsub_recovery.py): a manager
that records what the audit delivers stands in for the pub/sub, whose lateness is the subject."""

from __future__ import annotations

from typing import Any

from app.notifier import ROOM_PREFIX
from app.realtime.recovery import FanoutAudit
from app.schemas import UserOut
from app.services import Principal, Services
from tests.test_jobs import Deployment, deployment, make_member

__all__ = ["deployment"]  # the fixture, re-exported for pytest


class Manager:
    """The audit's view of the Socket.IO manager: its sockets' rooms and its local emits."""

    def __init__(self, room_id: str) -> None:
        self.rooms = {"/": {ROOM_PREFIX + room_id: {"sid-1": "eio-1"}}}
        self.room_id = room_id
        self.emitted: list[int] = []
        self.on_emit_handled: Any = None
        self.on_publish_failed: Any = None
        self.on_resubscribed: Any = None

    async def emit(self, event: str, data: dict[str, Any], **_: Any) -> None:
        self.emitted.append(data["message"]["seq"])

    def arrives(self, seq: int) -> None:
        """A NewMessage of the room delivered here by the subscription."""
        room = ROOM_PREFIX + self.room_id
        data = {"message": {"seq": seq}}
        self.on_emit_handled({"event": "NewMessage", "room": room, "data": data})


async def test_a_late_message_is_not_taken_for_lost_twice(deployment: Deployment) -> None:
    ctx = await deployment.context()
    services: Services = ctx["services"]
    user, room = await make_member(services, "Sender")
    sender = Principal(user=UserOut.of(user), session_id="s")

    async def send() -> int:
        sent = await services.messages.send(sender, room.id, "hi", via="http")
        return sent.message.seq

    manager = Manager(room.id)
    audit = FanoutAudit(manager, services, interval=1.0)
    await audit.audit()  # the room's baseline
    first = await send()
    await audit.audit()
    await audit.audit()  # a whole interval in the database and not here: lost, delivered
    assert manager.emitted == [first]
    manager.arrives(first)  # it was only late: the subscription lags on a loaded process
    await audit.audit()

    second = await send()
    await audit.audit()
    await audit.audit()  # as late as the first: the audit now waits longer
    assert manager.emitted == [first]
    manager.arrives(second)
    await audit.audit()
    await audit.audit()
    assert manager.emitted == [first]  # never delivered twice

    # A message that is really lost is still delivered, a little later than before.
    third = await send()
    for _ in range(3):
        await audit.audit()
    assert manager.emitted == [first, third]


class DroppingTransport:
    """A direct socket's transport that takes every frame and keeps none."""

    def write(self, data: bytes) -> None:
        return None

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0


async def test_a_replay_written_in_one_step_gives_the_audit_its_baseline(
    deployment: Deployment,
) -> None:
    # A socket's replay (the worker's, through this process's inbox, or one taken back from
    # the queue) is written in one step, not emitted. Its SyncComplete must still set the
    # room's baseline: a message lost before the first audit is then repaired, not taken for
    # delivered because the database already had it when the audit first looked.
    from app.config import Settings
    from app.realtime.engineio_seam.engine import DirectSocket, FrameWriter
    from app.realtime.engineio_seam.server import create_socket_server

    ctx = await deployment.context()
    services: Services = ctx["services"]
    user, room = await make_member(services, "Sender")
    sender = Principal(user=UserOut.of(user), session_id="s")
    first = await services.messages.send(sender, room.id, "before", via="http")

    server = create_socket_server(Settings())
    server.manager.initialize()
    socket = DirectSocket(server.eio, "eio-1")
    socket.attach(FrameWriter(DroppingTransport(), server.eio.write_coalescer))  # type: ignore[arg-type]
    server.eio.sockets["eio-1"] = socket
    sid = await server.manager.connect("eio-1", "/")
    server.manager.basic_enter_room(sid, "/", ROOM_PREFIX + room.id)
    audit = FanoutAudit(server.manager, services, interval=1.0)

    replay = [
        ("NewMessage", {"message": first.message.model_dump(mode="json"), "room_id": room.id}),
        ("SyncComplete", {"rooms": [{"room_id": room.id, "last_seq": 1, "last_rev": 0}],
                          "missed_count": 1, "truncated": False}),
    ]  # fmt: skip
    assert server.manager.write_events(sid, replay)
    await services.messages.send(sender, room.id, "lost on its way here", via="http")
    repaired = 0
    for _ in range(3):
        repaired += await audit.audit()
    assert repaired == 1
