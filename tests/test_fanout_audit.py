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
