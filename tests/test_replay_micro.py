"""Keeps bench/replay_micro.py working: both replay paths write the same bytes to the socket
(the benchmark asserts it) and the report has its figures. It asserts nothing about speed."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import replay_micro


def test_replay_micro_smoke_runs_both_paths() -> None:
    report = asyncio.run(replay_micro.measure(rounds=2, replays=3, replay=20))
    assert report["rounds"] == 2 and report["messages_per_replay"] == 20
    assert report["bytes_per_replay"] > 20 * 100  # twenty NewMessage frames
    assert len(report["per_emit_rounds_us"]) == 2 and len(report["batched_rounds_us"]) == 2
    assert report["per_emit_us_per_message"] > 0 and report["batched_us_per_message"] > 0
