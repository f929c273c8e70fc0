"""Keeps the benchmark harness (bench/run, docs/benchmarks.md) working.

A smoke run with tiny numbers: it starts `campfire serve` and the reference peers itself, runs
the fan-out scenario against each and the reconnect storm against Campfire, and checks the
shape of the JSON and that messages were delivered. It asserts nothing about speed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="bench/ needs Node.js")


@pytest.mark.timeout(300)
def test_bench_smoke_run_reports_every_target_without_errors(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    argv = [str(ROOT / "bench" / "run"), "--smoke", "--only", "fanout,storm"]
    argv += ["--targets", "campfire,bare,node", "--out", str(out)]
    proc = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    doc = json.loads(out.read_text())
    assert json.loads(proc.stdout) == doc
    for key in ("started", "elapsed_s", "profile", "machine", "settings", "summary", "results"):
        assert key in doc
    assert doc["errors"] == {}
    assert doc["profile"] == "smoke"
    assert out.with_suffix(".md").read_text().startswith("| scenario |")

    for target in ("campfire", "bare", "node"):
        result = doc["results"][f"fanout/{target}"]
        assert result["connect"]["ready"] == result["connections"] > 0
        step = result["steps"][0]
        for key in (
            "offered_deliveries_per_s",
            "achieved_deliveries_per_s",
            "latency_ms",
            "ack_latency_ms",
            "server_cpu_pct",
            "loadgen_cpu_pct",
            "missing_deliveries",
        ):
            assert key in step
        assert step["acked"] > 0
        assert step["delivered"] > 0
        assert step["latency_ms"]["count"] > 0
        assert "seq_gaps" in result["counters"]

    storm = doc["results"]["storm/campfire"]
    for key in ("clients", "synced", "time_to_sync_ms", "all_synced_s", "replayed", "expected"):
        assert key in storm
    assert storm["synced"] > 0
    assert storm["replayed"] > 0
    assert {row["scenario"] for row in doc["summary"]} >= {"fan-out sweep", "reconnect storm"}
