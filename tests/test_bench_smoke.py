"""Keeps the benchmark harness (bench/run, docs/benchmarks.md) working.

A smoke run with tiny numbers: it starts `campfire serve` and the reference peers itself, runs
the fan-out and big-room scenarios against each, the reconnect storm, the persisted writes
(with the bare SQLite writer's limit) and the history page (with the bare aiohttp handler)
against Campfire, and checks the shape of the JSON, that messages were delivered in order and
that every history answer held its 50 messages, and that the charts were drawn. A second run
does the same for the opt-in `writes-pg` scenario (two web processes on a PostgreSQL database
of the run's own at 127.0.0.1:5432, its own Redis, the bare asyncpg writers' limit) and checks
that the database was dropped. It asserts nothing about speed.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

import asyncpg
import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="bench/ needs Node.js")


@pytest.mark.timeout(600)
def test_bench_smoke_run_reports_every_target_without_errors(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    argv = [str(ROOT / "bench" / "run"), "--smoke", "--only", "fanout,storm,writes,http,bigroom"]
    argv += ["--targets", "campfire,bare,node", "--out", str(out)]
    proc = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=580,
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
    assert {row["scenario"] for row in doc["summary"]} >= {
        "fan-out sweep",
        "reconnect storm",
        "persisted writes",
        "history page (50 messages)",
        "one room of 8 sockets",
    }
    check_writes(doc["results"]["writes/campfire"])
    check_http(doc["results"]["http/campfire"])
    for target in ("campfire", "bare", "node"):
        check_bigroom(doc["results"][f"bigroom/{target}"], doc["settings"]["bigroom_sockets"])
    for chart, names in (("fanout", ("campfire", "bare", "node")), ("bigroom", ("campfire",))):
        svg = out.with_name(f"{out.stem}-{chart}.svg").read_text()
        assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
        for name in names:
            assert f">{name}</text>" in svg
        assert "<polyline" in svg or "<circle" in svg


def check_writes(writes: dict) -> None:
    assert writes["acked"] > 0 and writes["persisted_messages_per_s"] > 0
    assert writes["batches"]["count"] > 0
    assert writes["batches"]["id_version"] in (4, 7)
    for variant in ("writes_only", "with_checks", "checkpoint_thread"):
        limit = writes["limit"][variant]
        assert "error" not in limit, limit
        assert limit["rows"] >= limit["batches"] > 0
    assert writes["limit"]["checkpoint_thread"]["checkpoint_thread"] is True
    assert writes["ratio_to_limit"] > 0 and writes["ratio_to_limit_checkpoint_thread"] > 0
    at80 = writes["at_80pct"]
    assert at80["acked"] > 0
    assert at80["ack_latency_ms"]["count"] > 0
    assert at80["send_errors"] == {}
    assert at80["seq_gaps"] == 0


def check_http(http: dict) -> None:
    assert "error" not in http
    for target in ("campfire", "bare"):
        saturation, at80 = http[target]["phases"]
        assert saturation["name"] == "saturation" and at80["name"] == "at_80pct"
        for phase in (saturation, at80):
            # every answer was a 200 holding exactly the page's 50 messages
            assert phase["errors"] == {}, phase
            assert phase["requests"] > 0
            assert phase["latency_ms"]["count"] == phase["requests"]
        assert at80["offered_per_s"] == max(1, round(saturation["requests_per_s"] * 0.8))
    assert http["ratio_to_bare"] > 0


def check_bigroom(run: dict, sockets: int) -> None:
    assert run["connect"]["ready"] == run["connections"] == sockets
    assert run["deliveries_per_message"] == sockets
    assert run.get("members", sockets) == sockets  # Campfire's: one socket per member here
    step = run["steps"][0]
    assert step["acked"] > 0 and step["delivered"] > 0
    assert run["counters"]["seq_gaps"] == 0
    half = run["at_half"]
    assert half["latency_ms"]["count"] > 0
    assert half["seq_gaps"] == 0


@pytest.mark.timeout(300)
def test_bench_smoke_writes_pg_two_processes_against_the_bare_asyncpg_limit(
    tmp_path: Path,
) -> None:
    out = tmp_path / "bench.json"
    argv = [str(ROOT / "bench" / "run"), "--smoke", "--only", "writes-pg"]
    argv += ["--targets", "campfire", "--out", str(out)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=280, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    doc = json.loads(out.read_text())
    assert doc["errors"] == {}
    run = doc["results"]["writes-pg/campfire"]
    assert run["scenario"] == "writes-pg" and run["processes"] == 2
    assert len(run["urls"]) == 2 and run["arq_worker"]
    assert run["connect"]["ready"] == run["connections"] == doc["settings"]["writers"]
    assert run["acked"] > 0 and run["persisted_messages_per_s"] > 0
    assert run["errors"] == {} and run["counters"]["seq_gaps"] == 0
    # Every acked message was found in the database and replayed, from both processes.
    batches = run["batches"]
    assert batches["rows"] >= run["acked"] and batches["count"] > 0
    assert all(n > 0 for n in batches["per_process"]) and len(batches["per_process"]) == 2
    for variant in ("writes_only", "with_checks"):
        limit = run["limit"][variant]
        assert "error" not in limit, limit
        assert limit["rows"] >= limit["batches"] > 0
        # every row the writers counted is there, with gapless seqs and the read marks moved
        assert limit["rows_stored"] == limit["rows"]
        assert limit["read_marks_behind"] == 0 and limit["rooms_not_gapless"] == 0
        assert len(limit["writers"]) == 2 and all(w["rows"] > 0 for w in limit["writers"])
        assert limit["server"]["synchronous_commit"]
    assert run["ratio_to_limit"] > 0 and run["ratio_to_limit_with_checks"] > 0
    at80 = run["at_80pct"]
    assert at80["acked"] > 0 and at80["ack_latency_ms"]["count"] > 0
    assert at80["send_errors"] == {} and at80["seq_gaps"] == 0
    rows = [
        r for r in doc["summary"] if r["scenario"] == "persisted writes (PostgreSQL, 2 processes)"
    ]
    figures = {r["figure"]: r["value"] for r in rows}
    assert figures["acked messages/s / limit"] == run["ratio_to_limit"]
    assert any(f.startswith("ack p99 ms at 80%") for f in figures)
    assert asyncio.run(databases_named(run["database"])) == []


async def databases_named(prefix: str) -> list[str]:
    connection = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        rows = await connection.fetch(
            "SELECT datname FROM pg_database WHERE starts_with(datname, $1)", prefix
        )
    finally:
        await connection.close()
    return [r["datname"] for r in rows]
