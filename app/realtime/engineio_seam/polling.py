"""Long-polling responses that every Engine.IO client can read.

python-engineio's server answers a polling GET with everything queued for the socket, while
its own client (python-socketio's, which bots use, and which starts on long-polling before
it upgrades) refuses a payload of more than `Payload.max_decode_packets` (16) packets: it
logs "Unexpected packet from server" and drops the connection. A reconnecting client's
replay is hundreds of packets, so it could never resume. Each response here carries at most
that many; the rest wait for the client's next GET, which it sends as soon as it has read
this one. Browsers (socket.io-client) have no such limit and lose nothing but a round trip.

The same class also ends python-engineio's websocket loop (a socket that upgraded from
long-polling, or any websocket on the stock path) when the server closes the socket:
python-engineio's close leaves its writer waiting, so the websocket stayed open until the
reader's timeout (ping interval + ping timeout) for a client that ignores the close packet.
"""

from __future__ import annotations

import asyncio
from typing import Any

from engineio import exceptions
from engineio import packet as eio_packet
from engineio.async_socket import AsyncSocket
from engineio.payload import Payload


class BoundedPollSocket(AsyncSocket):
    async def poll(self) -> list[eio_packet.Packet]:
        # As python-engineio's poll, but stopping at the client's limit; None on the queue
        # means "closing" and stays there for the next poll, as in python-engineio.
        try:
            first = await asyncio.wait_for(
                self.queue.get(), self.server.ping_interval + self.server.ping_timeout
            )
            self.queue.task_done()
        except (TimeoutError, asyncio.CancelledError):
            raise exceptions.QueueEmpty() from None
        if first is None:
            return []
        packets = [first]
        while len(packets) < Payload.max_decode_packets and not self.queue.empty():
            pkt = self.queue.get_nowait()
            self.queue.task_done()
            if pkt is None:
                self.queue.put_nowait(None)
                break
            packets.append(pkt)
        return packets

    async def close(self, wait: bool = True, abort: bool = False, reason: Any = None) -> None:
        was_open = not self.closed and not self.closing
        await super().close(wait=wait, abort=abort, reason=reason)
        if was_open:
            self.after_close()

    def after_close(self) -> None:
        """What follows the end of a session that was open (subclasses add their transport's)."""
        if self.upgraded:
            # Ends python-engineio's websocket writer, which then closes the websocket.
            self.queue.put_nowait(None)
