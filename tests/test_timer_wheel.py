"""The shared deadline wheel of direct sockets (app/realtime/engineio_seam/timers.py): each
deadline fires once, in order, with its token (the socket tells a superseded one by it); a
socket that is gone is not called. Real event loop; waits for the events themselves."""

from __future__ import annotations

import asyncio

from app.realtime.engineio_seam.timers import TimerWheel


class Owner:
    def __init__(self, expect: int = 1) -> None:
        self.expect = expect
        self.fired: list[int] = []
        self.event = asyncio.Event()

    def timer_fired(self, token: int) -> None:
        self.fired.append(token)
        if len(self.fired) >= self.expect:
            self.event.set()


async def test_each_deadline_fires_once_in_order_with_its_token() -> None:
    owners = {"a": Owner(expect=3)}
    wheel = TimerWheel(owners.get, resolution=0.01)
    wheel.call_later(0.05, "a", 3)
    wheel.call_later(0.01, "a", 1)
    wheel.call_later(0.03, "a", 2)
    await asyncio.wait_for(owners["a"].event.wait(), 5)
    assert owners["a"].fired == [1, 2, 3]
    assert len(wheel) == 0


async def test_a_gone_socket_is_skipped_and_the_wheel_goes_on() -> None:
    owners = {"a": Owner(), "b": Owner()}
    wheel = TimerWheel(owners.get, resolution=0.01)
    wheel.call_later(0.01, "a", 0)
    gone = owners.pop("a")  # closed before its deadline
    wheel.call_later(0.03, "b", 0)
    await asyncio.wait_for(owners["b"].event.wait(), 5)
    assert owners["b"].fired == [0]
    assert gone.fired == []
    assert len(wheel) == 0


async def test_an_earlier_deadline_rearms_the_loop_timer() -> None:
    owners = {"late": Owner(), "soon": Owner()}
    wheel = TimerWheel(owners.get, resolution=0.01)
    wheel.call_later(60, "late", 0)
    wheel.call_later(0.01, "soon", 0)
    await asyncio.wait_for(owners["soon"].event.wait(), 5)
    assert owners["late"].fired == []
    assert len(wheel) == 1
