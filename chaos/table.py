"""`chaos/run ... | python -m chaos.table`: a run's JSON lines as a Markdown table."""

from __future__ import annotations

import json
import sys


def main() -> int:
    print(
        "| scenario | clients (lib/raw) | acked | acked lost | stored twice | seq gaps"
        " | clients diverged | duplicates shown | queued in fault (stored once) | converged"
        " after fault | /healthz during fault (slowest) | crashes | ok |"
    )
    print("|" + "---|" * 13)
    for line in sys.stdin:
        if not line.startswith("{"):
            continue
        r = json.loads(line)
        if "check" not in r:
            print(f"| {r['scenario']} | | | | | | | | | | | | {r.get('error', 'no result')} |")
            continue
        c = r["check"]
        h = r.get("healthz_during_fault", {})
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(h.get("statuses", {}).items()))
        converged = r["convergence_seconds"]
        print(
            f"| {r['scenario']} | {r['clients']} ({r['campfire_clients']}/{r['raw_clients']})"
            f" | {c['acked']} | {c['acked_lost']} | {c['acked_stored_twice']} | {c['seq_gaps']}"
            f" | {c['clients_diverged']} | {c['duplicates_shown']}"
            f" | {c['queued_during_fault']} ({c['queued_during_fault_stored_once']})"
            f" | {'-' if converged is None else f'{converged} s'}"
            f" | {statuses} ({h.get('slowest', '-')} s) | {len(r['crashed'])}"
            f" | {'yes' if r['ok'] else 'NO'} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
