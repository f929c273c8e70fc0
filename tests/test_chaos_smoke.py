"""Smoke runs of the chaos harness and the soak (tiny, on SQLite): they start, inject their
fault, and report JSON that the checker filled in. No timing is asserted; the real runs and
their figures are in docs/reliability.md."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support import ROOT

# Deployments of several processes (and private servers) start slowly on a loaded machine.
pytestmark = pytest.mark.timeout(900)


def run(command: list[str], tmp_path: Path) -> list[dict]:
    done = subprocess.run(
        [*command, "--workdir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, done.stderr[-3000:]
    return lines


def test_chaos_kill9_scenario_runs_and_its_checker_passes(tmp_path: Path) -> None:
    [result] = run(
        [str(ROOT / "chaos/run"), "--scenario", "sqlite-kill9", "--clients", "6",
         "--rooms", "3", "--seconds", "2", "--send-interval-ms", "1000"],
        tmp_path,
    )  # fmt: skip
    assert result["scenario"] == "sqlite-kill9"
    assert "error" not in result, result
    check = result["check"]
    assert check["clients"] == 6
    assert check["acked"] > 0 and check["stored"] >= check["acked"]
    assert check["acked_lost"] == 0 and check["seq_gaps"] == 0, check
    assert check["duplicates_shown"] == 0 and check["clients_diverged"] == 0, check
    assert result["crashed"] == [] and result["healthz_after"] == [200]
    assert result["convergence_seconds"] is not None
    assert result["ok"] is True, result


def test_soak_samples_and_summarises(tmp_path: Path) -> None:
    lines = run(
        [str(ROOT / "chaos/soak"), "--deployment", "single", "--minutes", "0.3",
         "--connections", "10", "--rooms", "3", "--sample-seconds", "5",
         "--send-interval-ms", "2000"],
        tmp_path,
    )  # fmt: skip
    samples = [line for line in lines if line["event"] == "sample"]
    summary = lines[-1]
    assert summary["event"] == "summary" and "error" not in summary, summary
    assert len(samples) >= 2
    assert all(s["web0_rss_kb"] > 0 and s["web0_fds"] > 0 for s in samples)
    assert all(s["web0_tasks"] > 0 for s in samples)
    assert set(summary["growth"]) >= {"web0_rss_kb", "web0_fds", "web0_tasks"}
    assert summary["crashed"] == []
    assert summary["messages_acked"] > 0


def test_soak_growth_reads_a_few_tasks_more_as_noise_and_a_task_per_connection_as_a_leak() -> None:
    from chaos.soak import growth

    def sample(t: float, tasks: int, rss: int) -> dict[str, float]:
        return {"t": t, "web0_rss_kb": rss, "web0_tasks": tasks, "web0_connections": 500}

    # Idle connections have no task of their own: a dozen tasks moving by three is noise.
    quiet = growth([sample(0, 59, 100_000), sample(60, 12, 100_100), sample(120, 15, 100_200)], 60)
    assert quiet["web0_tasks"] < 0.1 and quiet["web0_rss_kb"] < 0.1
    # A task left behind by every connection (or every event) is a leak, whatever the base.
    leak = growth([sample(0, 59, 100_000), sample(60, 12, 100_100), sample(120, 520, 100_200)], 60)
    assert leak["web0_tasks"] > 0.9
    # Everything else stays relative to its own value.
    grown = growth([sample(0, 12, 100_000), sample(60, 12, 100_000), sample(120, 12, 120_000)], 60)
    assert grown["web0_rss_kb"] == 0.2
