"""The state contract for visibility and shared counters (PROTOCOL.md section 9.2): both
implementations, through the harness of tests/test_state_contract.py."""

from __future__ import annotations

from app.state import RealtimeState
from tests.test_state_contract import Harness, add, conn, harness, state

__all__ = ["harness", "state"]  # the fixtures, re-exported for pytest


async def test_a_new_connection_counts_as_visible(state: RealtimeState) -> None:
    await add(state, conn("u1"))
    assert await state.visible_users(["u1", "u2"]) == {"u1"}


async def test_a_user_is_visible_while_any_connection_is(state: RealtimeState) -> None:
    first, second = conn("u1"), conn("u1")
    await add(state, first)
    await add(state, second)
    assert await state.set_visible(first.connection_id, False)
    assert await state.visible_users(["u1"]) == {"u1"}
    assert await state.set_visible(second.connection_id, False)
    assert await state.visible_users(["u1"]) == set()
    assert await state.set_visible(second.connection_id, True)
    assert await state.visible_users(["u1"]) == {"u1"}


async def test_a_removed_connection_is_no_longer_visible(state: RealtimeState) -> None:
    info = conn("u1")
    await add(state, info)
    await state.remove_connection(info.connection_id)
    assert await state.visible_users(["u1"]) == set()
    # Visibility of a connection that is gone is refused, not recorded.
    assert not await state.set_visible(info.connection_id, True)
    assert await state.visible_users(["u1"]) == set()


async def test_visibility_is_shared_between_processes(harness: Harness) -> None:
    one, other = harness.state(), harness.state()
    hidden = conn("u1", process="p1")
    await add(one, hidden)
    await one.set_visible(hidden.connection_id, False)
    assert await other.visible_users(["u1"]) == set()
    await other.set_visible(hidden.connection_id, True)
    assert await one.visible_users(["u1"]) == {"u1"}


async def test_counters_add_up_across_processes(harness: Harness) -> None:
    one, other = harness.state(), harness.state()
    assert await one.counters() == {}
    await one.add_counter("push_sent")
    await other.add_counter("push_sent", 2)
    await other.add_counter("push_dropped")
    assert await one.counters() == {"push_sent": 3.0, "push_dropped": 1.0}


async def test_a_restored_connection_comes_back_with_its_visibility(harness: Harness) -> None:
    state = harness.state()
    seen, hidden = conn("u1"), conn("u2")
    for info in (seen, hidden):
        await add(state, info)
    await state.set_visible(hidden.connection_id, False)
    # What a Redis restart does to both registrations while the sockets stay open.
    for info in (seen, hidden):
        await state.remove_connection(info.connection_id)
    assert await state.visible_users(["u1", "u2"]) == set()
    restored = await state.restore_connections([seen, hidden], {hidden.connection_id})
    assert restored == [seen, hidden]
    # The visible page counts as visible again (no push to it); the hidden one still not.
    assert await state.visible_users(["u1", "u2"]) == {"u1"}
    assert await state.online_users(["u1", "u2"]) == {"u1", "u2"}
