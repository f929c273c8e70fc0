"""Keeps bench/connect_ab.py working: two servers of a checkout side by side, batches of
reconnecting sockets alternating between them, every socket synced. Asserts no speed."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import connect_ab

ROOT = Path(__file__).resolve().parent.parent


def test_connect_ab_measures_both_builds_batch_by_batch() -> None:
    result = connect_ab.measure(ROOT, ROOT, batches=2, batch=10, missed=3)
    assert [len(result["ms_per_socket"][name]) for name in ("a", "b")] == [2, 2]
    assert all(v >= 0 for name in ("a", "b") for v in result["ms_per_socket"][name])
    assert set(result["median_ms_per_socket"]) == {"a", "b"}
    assert result["batch"] == 10 and result["missed"] == 3
