"""Issue 16's connection targets, asked for with `--only idle50k,storm10k`:

- `idle50k`: the idle scenario with `idle_many_connections` (50,000) authenticated sockets held
  by one process, RSS per connection (target <= 15 KB). Every process here needs a file
  descriptor per socket: the harness raises each one's soft limit to the hard limit, and runs
  at most what the hard limit allows (recorded as `fd_hard_limit` and `requested`), since only
  a privileged user can raise the hard limit itself (`ulimit -Hn`). The load generator gets a
  worker per 15,000 sockets and a source address (127.0.0.2, ...) per 25,000.
- `storm10k`: the reconnect storm with `storm_many_sockets` (10,000) sockets, and Node's
  socket.io accepting as many connections in the same run (the idle scenario's connect phase,
  same concurrency): all synced no later than Node takes to accept them.
"""

from __future__ import annotations

import dataclasses
import math
import resource
from typing import Any

from summary_refs import row_adder

import bench as core

# Descriptors a process needs besides its sockets (files, the database, Redis, pipes).
FD_HEADROOM = 1_000
SOCKETS_PER_LOADGEN_WORKER = 15_000


def with_profile(h: core.Harness, **changes: Any) -> core.Harness:
    """The harness with some profile values changed; the same list of started processes."""
    return dataclasses.replace(h, profile={**h.profile, **changes})


def run_idle_many(h: core.Harness, target: str, s: core.Seed | None) -> dict[str, Any]:
    p = h.profile
    asked = p["idle_many_connections"]
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    n = asked if hard == resource.RLIM_INFINITY else min(asked, hard - FD_HEADROOM)
    if n <= 0:
        return {"error": f"the fd hard limit {hard} leaves no room for sockets"}
    if n < asked:
        core.log(f"idle50k: the fd hard limit is {hard}; holding {n} of {asked} connections")
    workers = max(p["idle_workers"], math.ceil(n / SOCKETS_PER_LOADGEN_WORKER))
    hp = with_profile(
        h,
        idle_connections=n,
        idle_workers=workers,
        idle_connect_budget_s=p["idle_many_budget_s"],
    )
    result = core.run_idle(hp, target, s, label="idle50k")
    result.update(requested=asked, fd_hard_limit=hard, loadgen_workers=workers)
    return result


def run_storm_many(h: core.Harness, s: core.Seed, targets: list[str]) -> dict[str, Any]:
    p = h.profile
    tabs = max(1, round(p["storm_many_sockets"] / len(s.users)))
    hs = with_profile(h, tabs=tabs, storm_timeout_s=p["storm_many_timeout_s"])
    result = core.run_storm(hs, s, label="storm10k")
    if "node" in targets and result.get("clients"):
        # Node accepting as many sockets, in the same run: the storm's yardstick.
        hn = with_profile(
            h,
            idle_connections=result["clients"],
            idle_hold_s=1,
            idle_connect_budget_s=p["storm_many_timeout_s"],
        )
        node = core.run_idle(hn, "node", None, label="storm10k-accept")
        connect = node.get("connect") or {}
        result["node_accept"] = {
            "connections": connect.get("ready"),
            "seconds": connect.get("seconds"),
            "per_second": connect.get("per_second"),
        }
    return result


def rows(results: dict[str, Any], profile: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    add = row_adder(out, profile)

    for target in core.TARGETS:
        r = results.get(f"idle50k/{target}") or {}
        if "rss_per_connection_kb" in r:
            v = r["rss_per_connection_kb"]
            held = r.get("still_connected_after_hold") or 0
            figure = f"RSS KB per idle connection ({held} held of {r.get('requested')} asked"
            figure += f", fd hard limit {r.get('fd_hard_limit')})"
            goal = "<= 15 KB, 50,000 held" if target == "campfire" else ""
            ok = (v or 1e9) <= 15 and held >= 50_000 if target == "campfire" else None
            add("idle connections (50k)", target, figure, v, goal, ok)
            add("idle connections (50k)", target, "connections opened per second",
                (r.get("connect") or {}).get("per_second"))  # fmt: skip
    r = results.get("storm10k/campfire") or {}
    if "clients" in r:
        node = (r.get("node_accept") or {}).get("seconds")
        v = r.get("all_synced_s")
        all_synced = r.get("synced") == r.get("clients")
        add("reconnect storm (10k)", "campfire",
            f"s until all {r['clients']} reached SyncComplete ({r.get('missed_per_room')} missed)",
            v, "<= node's accept time, all",
            all_synced and v is not None and node is not None and v <= node)  # fmt: skip
        add("reconnect storm (10k)", "campfire", "clients with wrong replay",
            r.get("wrong_count_clients"), "0", r.get("wrong_count_clients") == 0)  # fmt: skip
        add(
            "reconnect storm (10k)",
            "node",
            f"s to accept {(r.get('node_accept') or {}).get('connections')} connections",
            node,
        )
    return out
