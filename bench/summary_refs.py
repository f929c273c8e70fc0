"""Summary rows of issue 16's same-run references: persisted writes against the bare SQLite
writer (and on PostgreSQL, two web processes against the bare asyncpg writers), the history
page against a bare aiohttp handler, one big room against the peers. Targets are ratios
(absolute figures move with the host); they are judged in the full profile only, like
bench.summarise's."""

from __future__ import annotations

from typing import Any

Row = dict[str, Any]


def row_adder(out: list[Row], profile: str) -> Any:
    """`add(scenario, target, figure, value, goal="", ok=None)` appending a summary row to
    `out`; goals and verdicts are kept in the full profile only."""
    full = profile == "full"

    def add(scenario: str, target: str, figure: str, value: Any, goal: str = "", ok: Any = None):
        out.append(
            {
                "scenario": scenario,
                "target": target,
                "figure": figure,
                "value": value,
                "goal": goal if full else "",
                "meets": (None if ok is None else bool(ok)) if full else None,
                "other_cpu_pct": None,
            }
        )

    return add


def _rounded(value: Any) -> int | None:
    return None if value is None else round(value)


def rows(results: dict[str, Any], profile: str) -> list[Row]:
    out: list[Row] = []
    add = row_adder(out, profile)

    w = results.get("writes/campfire") or {}
    limit = (w.get("limit") or {}).get("writes_only") or {}
    if limit.get("rows_per_s"):
        batches = w.get("batches") or {}
        add("persisted writes", "limit (bare sqlite3)",
            f"rows/s, Campfire's {batches.get('count')} batches replayed (mean "
            f"{batches.get('mean_size')})", limit["rows_per_s"])  # fmt: skip
        checked = (w.get("limit") or {}).get("with_checks") or {}
        add("persisted writes", "limit (bare sqlite3)", "rows/s with the resend and member reads",
            checked.get("rows_per_s"))  # fmt: skip
        threaded = (w.get("limit") or {}).get("checkpoint_thread") or {}
        add("persisted writes", "limit (bare sqlite3)", "rows/s, checkpoints on a thread",
            threaded.get("rows_per_s"))  # fmt: skip
        v = w.get("ratio_to_limit")
        add("persisted writes", "campfire", "acked messages/s / limit", v, ">= 0.5",
            v is not None and v >= 0.5)  # fmt: skip
        v = w.get("ratio_to_limit_checkpoint_thread")
        add("persisted writes", "campfire", "acked messages/s / limit with checkpoints on a thread",
            v, ">= 0.5", v is not None and v >= 0.5)  # fmt: skip
    at80 = w.get("at_80pct") or {}
    if at80.get("ack_latency_ms"):
        v = at80["ack_latency_ms"].get("p99_ms")
        add("persisted writes", "campfire",
            f"ack p99 ms at 80% ({at80.get('offered_messages_per_s')} messages/s offered)", v,
            "<= 20 ms", v is not None and v <= 20)  # fmt: skip

    pg = results.get("writes-pg/campfire") or {}
    scenario = "persisted writes (PostgreSQL, 2 processes)"
    if "persisted_messages_per_s" in pg:
        add(scenario, "campfire", f"acked messages/s ({pg.get('writers')} senders)",
            pg["persisted_messages_per_s"])  # fmt: skip
        out[-1]["other_cpu_pct"] = _rounded(pg.get("other_processes_cpu_pct"))
    limit = (pg.get("limit") or {}).get("writes_only") or {}
    if limit.get("rows_per_s"):
        batches = pg.get("batches") or {}
        add(scenario, "limit (bare asyncpg, 2 connections)",
            f"rows/s, Campfire's {batches.get('count')} batches replayed (mean "
            f"{batches.get('mean_size')})", limit["rows_per_s"])  # fmt: skip
        checked = (pg.get("limit") or {}).get("with_checks") or {}
        add(scenario, "limit (bare asyncpg, 2 connections)",
            "rows/s with the resend and member reads", checked.get("rows_per_s"))  # fmt: skip
        v = pg.get("ratio_to_limit")
        add(scenario, "campfire", "acked messages/s / limit", v, ">= 0.5",
            v is not None and v >= 0.5)  # fmt: skip
    at80 = pg.get("at_80pct") or {}
    if at80.get("ack_latency_ms"):
        v = at80["ack_latency_ms"].get("p99_ms")
        add(scenario, "campfire",
            f"ack p99 ms at 80% ({at80.get('offered_messages_per_s')} messages/s offered)", v,
            "<= 20 ms", v is not None and v <= 20)  # fmt: skip
        out[-1]["other_cpu_pct"] = _rounded(at80.get("other_processes_cpu_pct"))

    r = results.get("http/campfire") or {}
    for target in ("campfire", "bare"):
        phases = {ph["name"]: ph for ph in (r.get(target) or {}).get("phases", [])}
        name = "campfire" if target == "campfire" else "bare aiohttp"
        if "saturation" in phases:
            ph = phases["saturation"]
            lb = " (loadgen CPU {:.0f}%)".format(ph.get("loadgen_cpu_pct") or 0)
            add("history page (50 messages)", name, "requests/s at saturation" + lb,
                ph["requests_per_s"])  # fmt: skip
        if "at_80pct" in phases:
            ph = phases["at_80pct"]
            v = ph["latency_ms"].get("p99_ms")
            add("history page (50 messages)", name,
                f"p99 ms at 80% ({ph.get('offered_per_s')} requests/s)", v,
                "<= 20 ms" if target == "campfire" else "",
                (v is not None and v <= 20) if target == "campfire" else None)  # fmt: skip
    if r.get("ratio_to_bare") is not None:
        v = r["ratio_to_bare"]
        add("history page (50 messages)", "campfire", "requests/s / bare aiohttp", v, ">= 0.5",
            v >= 0.5)  # fmt: skip

    sustained = {}
    for target in ("campfire", "bare", "node"):
        b = results.get(f"bigroom/{target}") or {}
        if "steps" not in b:
            continue
        sustained[target] = b.get("sustained_deliveries_per_s")
        scenario = f"one room of {b.get('connections')} sockets"
        lb = " (loadgen-bound: lower bound)" if b.get("loadgen_bound") else ""
        add(scenario, target, "sustained deliveries/s" + lb, sustained[target])
        half = b.get("at_half") or {}
        if half.get("latency_ms"):
            add(scenario, target,
                f"delivery p99 ms at 50% ({half.get('offered_deliveries_per_s')}/s)",
                half["latency_ms"].get("p99_ms"))  # fmt: skip
    d = results.get("bigroom-distinct/campfire") or {}
    if "steps" in d:
        scenario = f"one room of {d.get('members')} distinct members (1 socket each)"
        conn = d.get("connect") or {}
        add(scenario, "campfire", "seconds to connect them all", conn.get("seconds"))
        lb = " (loadgen-bound: lower bound)" if d.get("loadgen_bound") else ""
        sustained_d = d.get("sustained_deliveries_per_s")
        add(scenario, "campfire", "sustained deliveries/s" + lb, sustained_d)
        half = d.get("at_half") or {}
        if half.get("latency_ms"):
            add(scenario, "campfire",
                f"delivery p99 ms at 50% ({half.get('offered_deliveries_per_s')}/s)",
                half["latency_ms"].get("p99_ms"))  # fmt: skip
    cf = sustained.get("campfire")
    for peer in ("bare", "node"):
        if cf is not None and sustained.get(peer):
            add("one big room", "campfire", f"sustained deliveries/s / {peer}",
                round(cf / sustained[peer], 3))  # fmt: skip
    return out
