"""CPU per replayed message spent getting it from its wire dict to the socket's writer: one
emit per message (`Notifier.to_connection`, python-socketio's emit and Campfire's room
fan-out for a room of one) against the whole replay in one step (`to_connection_many`,
FanoutManager.write_events). Also the websocket framing alone: python-engineio's Packet
against the Engine.IO text form written directly (engine.engineio_frame).

In one process, on one server, the paths alternate round after round, so that a host whose
speed drifts (this one's moves by up to 2x within seconds) slows them alike; the medians of
the rounds are reported. A round replays `--replay` messages to one socket `--replays` times;
its writes go to a transport that drops them.

    PYTHONPATH=. .venv/bin/python bench/replay_micro.py [--rounds 21] [--replays 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from engineio import packet as eio_packet

from app.config import Settings
from app.metrics import Metrics
from app.realtime.delivery import SocketIONotifier
from app.realtime.engineio_seam.engine import DirectSocket, FrameWriter, engineio_frame, frame
from app.realtime.engineio_seam.manager import encode_event
from app.realtime.engineio_seam.server import create_socket_server
from app.services.message_rows import wire_row

ROOM = str(uuid.uuid4())


class CountingTransport:
    """Takes the frames and counts the bytes."""

    def __init__(self) -> None:
        self.written = 0

    def write(self, data: bytes) -> None:
        self.written += len(data)

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0


def replay_events(count: int) -> list[tuple[str, dict[str, Any]]]:
    """`count` NewMessage events as the backfill makes them, from message-shaped rows."""
    creator = str(uuid.uuid4())
    events = []
    for seq in range(1, count + 1):
        row = (str(uuid.uuid4()), ROOM, creator, f"message number {seq}, a line of chat text",
               str(uuid.uuid4()), "2026-12-01 10:00:00.123456", seq, None, 0, 0, "[]")  # fmt: skip
        message = wire_row(row)
        events.append(("NewMessage", {"message": message, "room_id": ROOM}))
    return events


async def measure(rounds: int, replays: int, replay: int) -> dict[str, Any]:
    server = create_socket_server(Settings())
    server.manager.initialize()
    notifier = SocketIONotifier(server, Metrics())
    eio_sid = "bench-socket"
    transport = CountingTransport()
    socket = DirectSocket(server.eio, eio_sid)
    socket.attach(FrameWriter(transport, server.eio.write_coalescer))  # type: ignore[arg-type]
    server.eio.sockets[eio_sid] = socket
    sid = await server.manager.connect(eio_sid, "/")
    events = replay_events(replay)

    async def per_emit() -> None:
        for event, data in events:
            await notifier.to_connection(sid, event, data)

    async def batched() -> None:
        await notifier.to_connection_many(sid, events)

    paths: dict[str, Callable[[], Awaitable[None]]] = {"per_emit": per_emit, "batched": batched}
    per_message: dict[str, list[float]] = {name: [] for name in paths}
    sizes: dict[str, int] = {}
    for _ in range(rounds):
        for name, path in paths.items():
            before = transport.written
            started = time.process_time()
            for _ in range(replays):
                await path()
                await asyncio.sleep(0)  # the coalescer hands the frames to the transport
            elapsed = time.process_time() - started
            sizes[name] = transport.written - before
            per_message[name].append(elapsed / (replays * replay) * 1e6)
    assert sizes["per_emit"] == sizes["batched"] > 0, f"the paths wrote different bytes: {sizes}"

    packets = [encode_event(event, data) or "" for event, data in events]
    framing: dict[str, list[float]] = {"engineio_packet": [], "direct": []}
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(replays):
            for p in packets:
                frame(eio_packet.Packet(eio_packet.MESSAGE, p).encode())
        framing["engineio_packet"].append((time.process_time() - started) / (replays * replay))
        started = time.process_time()
        for _ in range(replays):
            for p in packets:
                engineio_frame(p)
        framing["direct"].append((time.process_time() - started) / (replays * replay))
    assert all(frame("4" + p) == engineio_frame(p) for p in packets)

    def median(values: list[float], scale: float = 1.0) -> float:
        return round(statistics.median(values) * scale, 2)

    return {
        "rounds": rounds,
        "replays_per_round": replays,
        "messages_per_replay": replay,
        "bytes_per_replay": sizes["batched"] // replays,
        "per_emit_us_per_message": median(per_message["per_emit"]),
        "batched_us_per_message": median(per_message["batched"]),
        "framing_engineio_packet_us": median(framing["engineio_packet"], 1e6),
        "framing_direct_us": median(framing["direct"], 1e6),
        "per_emit_rounds_us": [round(v, 2) for v in per_message["per_emit"]],
        "batched_rounds_us": [round(v, 2) for v in per_message["batched"]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--replays", type=int, default=100)
    parser.add_argument("--replay", type=int, default=200, help="messages per replay")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.rounds, args.replays, args.replay)), indent=1))


if __name__ == "__main__":
    main()
