"""CPU per client event spent getting it from its Engine.IO frame to the gateway's handler:
python-engineio's and python-socketio's stock dispatch against Campfire's one-step dispatch
(`DirectSocket.handle_message`, `CampfireSocketServer._handle_eio_message`).

In one process, on one server, the two paths alternate round after round, so that a host whose
speed drifts (this one's moves by up to 2x within seconds) slows both alike; the medians of the
rounds are reported. The handler is a no-op that returns an envelope, and the event asks for an
ack (as every event of the load generator does), so what is measured is the dispatch and the ack.

    .venv/bin/python bench/dispatch_micro.py [--rounds 21] [--events 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import types
from typing import Any

import socketio
from engineio import packet as eio_packet
from engineio.async_socket import AsyncSocket

from app.config import Settings
from app.realtime.engineio_seam.engine import DirectSocket, FrameWriter
from app.realtime.engineio_seam.server import create_socket_server

FRAME = '421["Ping",{}]'  # Engine.IO MESSAGE, Socket.IO EVENT with ack id 1


class NullTransport:
    """Takes the acks' frames and drops them."""

    def write(self, data: bytes) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0


class Counting:
    def __init__(self) -> None:
        self.events = 0

    async def on_event(self, event: str, sid: str, *args: Any) -> dict[str, Any]:
        self.events += 1
        return {"type": "Pong", "data": {}}


async def stock(socket: DirectSocket, server: socketio.AsyncServer, data: str) -> None:
    """What python-engineio and python-socketio do with the frame, as shipped."""
    pkt = eio_packet.Packet(encoded_packet=data)
    engine = socket.server
    handler = engine.handlers["message"]
    # python-engineio's AsyncSocket.receive -> AsyncServer._trigger_event, then python-socketio's
    # own _handle_eio_message (the stock one, not Campfire's override).
    engine.handlers["message"] = types.MethodType(socketio.AsyncServer._handle_eio_message, server)
    try:
        await AsyncSocket.receive(socket, pkt)
    finally:
        engine.handlers["message"] = handler


async def fast(socket: DirectSocket, server: socketio.AsyncServer, data: str) -> None:
    await socket.handle_message(data)


async def measure(rounds: int, events: int) -> dict[str, Any]:
    server = create_socket_server(Settings())
    counting = Counting()
    server.on("*", counting.on_event)
    server.manager.initialize()
    eio_sid = "bench-socket"
    socket = DirectSocket(server.eio, eio_sid)
    socket.attach(FrameWriter(NullTransport(), server.eio.write_coalescer))  # type: ignore[arg-type]
    server.eio.sockets[eio_sid] = socket
    await server.manager.connect(eio_sid, "/")
    per_event: dict[str, list[float]] = {"stock": [], "fast": []}
    for _ in range(rounds):
        for name, path in (("stock", stock), ("fast", fast)):
            before = counting.events
            started = time.process_time()
            for _ in range(events):
                await path(socket, server, FRAME)
            await asyncio.sleep(0)  # the acks' frames are written (dropped) here
            elapsed = time.process_time() - started
            assert counting.events - before == events, f"{name} missed events"
            per_event[name].append(elapsed / events * 1e6)
    stock_us = statistics.median(per_event["stock"])
    fast_us = statistics.median(per_event["fast"])
    return {
        "frame": FRAME,
        "rounds": rounds,
        "events_per_round": events,
        "stock_us_per_event": round(stock_us, 2),
        "fast_us_per_event": round(fast_us, 2),
        "saved_us_per_event": round(stock_us - fast_us, 2),
        "stock_rounds_us": [round(v, 2) for v in per_event["stock"]],
        "fast_rounds_us": [round(v, 2) for v in per_event["fast"]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.rounds, args.events)), indent=1))


if __name__ == "__main__":
    main()
