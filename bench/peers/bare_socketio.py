"""Reference peer: a bare python-socketio AsyncServer on aiohttp.

Speaks just enough of PROTOCOL.md to run the fan-out and idle scenarios: JoinRoom {room_id}
(ack RoomJoined) and NewMessage {room_id, content, client_message_id} broadcast to the room
with a MessageDelivered ack. No database, no auth, stock python-socketio settings (so aiohttp
negotiates permessage-deflate when the client offers it, as browsers do).

    python bench/peers/bare_socketio.py PORT [--no-uvloop]

Listens on 127.0.0.1 only. SIGTERM stops it.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from datetime import UTC, datetime

import socketio
from aiohttp import web

sio = socketio.AsyncServer(async_mode="aiohttp", transports=["websocket"], cors_allowed_origins=[])
app = web.Application()
sio.attach(app)
seqs: dict[str, int] = {}


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


app.router.add_get("/healthz", healthz)


@sio.on("JoinRoom")
async def join_room(sid, data):
    room = data.get("room_id") if isinstance(data, dict) else None
    if not isinstance(room, str):
        return {"type": "Error", "data": {"code": "invalid_message_format", "message": "room_id"}}
    await sio.enter_room(sid, room)
    return {"type": "RoomJoined", "data": {"room": {"id": room, "name": room, "kind": "open"}}}


@sio.on("NewMessage")
async def new_message(sid, data):
    room = data.get("room_id") if isinstance(data, dict) else None
    cmid = data.get("client_message_id") if isinstance(data, dict) else None
    if not isinstance(room, str) or room not in sio.rooms(sid):
        return {
            "type": "MessageError",
            "data": {
                "client_message_id": cmid,
                "code": "room_access_denied",
                "error": "not in room",
            },
        }
    seq = seqs.get(room, 0) + 1
    seqs[room] = seq
    message = {
        "id": str(uuid.uuid4()),
        "room_id": room,
        "creator_id": sid,
        "content": data.get("content"),
        "client_message_id": cmid,
        "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "seq": seq,
    }
    await sio.emit("NewMessage", {"message": message, "room_id": room}, room=room)
    return {
        "type": "MessageDelivered",
        "data": {"client_message_id": cmid, "message_id": message["id"], "seq": seq},
    }


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8102
    if "--no-uvloop" not in sys.argv:
        try:
            import uvloop

            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        except ImportError:
            pass
    web.run_app(app, host="127.0.0.1", port=port, print=None, shutdown_timeout=2)


if __name__ == "__main__":
    main()
