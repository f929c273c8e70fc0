"""Keeps bench/dispatch_micro.py working: both dispatch paths reach the handler for every
event and the report has its figures. It asserts nothing about speed."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import dispatch_micro


def test_dispatch_micro_smoke_runs_both_paths() -> None:
    report = asyncio.run(dispatch_micro.measure(rounds=2, events=50))
    assert report["rounds"] == 2 and report["events_per_round"] == 50
    assert len(report["stock_rounds_us"]) == 2 and len(report["fast_rounds_us"]) == 2
    assert report["stock_us_per_event"] > 0 and report["fast_us_per_event"] > 0
