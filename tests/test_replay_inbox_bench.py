"""Keeps bench/replay_inbox.py working, and checks the routing it measures end to end: two
real web processes, a real arq worker and a Redis server of its own, with the replays sent
event by event on the shared channel or to the holding process's inbox. It asserts the
messages the process without the sockets decoded, never a speed."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import replay_inbox

CLIENTS, MISSED = 20, 3


def test_replays_reach_only_the_process_holding_the_sockets() -> None:
    runs = replay_inbox.measure(rounds=1, clients=CLIENTS, missed=MISSED)
    by_variant = {run["inbox"]: run for run in runs}
    assert set(by_variant) == {False, True}
    # Emit by emit: B decodes every replayed event and every SyncComplete of A's sockets,
    # and its own socket's SyncComplete.
    assert by_variant[False]["b_decoded"] == {"shared": CLIENTS * (MISSED + 1) + 1}
    # To the inbox: B decodes nothing of A's sockets, one message for its own socket.
    assert by_variant[True]["b_decoded"] == {"inbox": 1}
    report = replay_inbox.report(runs, CLIENTS, MISSED)
    assert "| to the inbox, one message | 0 / 1 |" in report
