"""The total-order checker: every client's final state against the database.

Checks, after a scenario (PROTOCOL.md section 5 is the contract):
- every acknowledged message is stored, exactly once, under the id and seq it was acked with;
- every room's seqs are 1..N with no gap and no repeat;
- every client still a member of a room shows exactly the database's messages of that room
  (it joined before the first one), in seq order, with no duplicates;
- every message a client queued (including those queued while cut off) was acknowledged or
  refused for good, none left pending, and none stored twice;
- nothing acknowledged was refused afterwards, and no seq ever carried two ids.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Verdict:
    acked: int = 0
    stored: int = 0
    acked_lost: int = 0
    acked_stored_twice: int = 0
    acked_mismatched: int = 0
    seq_gaps: int = 0
    clients: int = 0
    clients_diverged: int = 0
    duplicates_shown: int = 0
    out_of_order_shown: int = 0
    missing_shown: int = 0
    extra_shown: int = 0
    pending_left: int = 0
    refused_for_good: int = 0
    queued_during_fault: int = 0
    queued_during_fault_stored_once: int = 0
    examples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.acked_lost
            or self.acked_stored_twice
            or self.acked_mismatched
            or self.seq_gaps
            or self.clients_diverged
            or self.duplicates_shown
            or self.pending_left
            or self.queued_during_fault != self.queued_during_fault_stored_once
        )

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        data["examples"] = self.examples[:10]
        return data


def check(
    rows: list[tuple[str, str, int, str, str]],
    reports: list[dict[str, Any]],
    fault_window: tuple[float, float] | None = None,
) -> Verdict:
    """`rows`: (id, room_id, seq, creator_id, client_message_id) of every message of the
    scenario's rooms; `reports`: the driver's per-client reports; `fault_window`: (start, end)
    in ms since the epoch, to count what was queued during the fault."""
    v = Verdict(stored=len(rows), clients=len(reports))
    by_key: dict[tuple[str, str], list[tuple[str, str, int]]] = defaultdict(list)
    by_room: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for message_id, room_id, seq, creator_id, cmid in rows:
        by_key[(creator_id, cmid)].append((message_id, room_id, seq))
        by_room[room_id].append((seq, message_id))
    for room_id, seqs in by_room.items():
        seqs.sort()
        expected = list(range(1, len(seqs) + 1))
        if [s for s, _ in seqs] != expected:
            v.seq_gaps += 1
            v.examples.append(f"room {room_id}: seqs are not 1..{len(seqs)}")

    for report in reports:
        user = report["user_id"]
        for item in report["acked"]:
            v.acked += 1
            found = by_key.get((user, item["client_message_id"]), [])
            if not found:
                v.acked_lost += 1
                v.examples.append(f"acked {item['client_message_id']} of {user} is not stored")
            elif len(found) > 1:
                v.acked_stored_twice += 1
            elif item.get("message_id") and (found[0][0], found[0][2]) != (
                item["message_id"],
                item["seq"],
            ):
                v.acked_mismatched += 1
                v.examples.append(f"acked {item['client_message_id']} as {item['seq']}: {found}")
            if fault_window and fault_window[0] <= item.get("queued_at", 0) <= fault_window[1]:
                v.queued_during_fault += 1
                v.queued_during_fault_stored_once += len(found) == 1
        v.pending_left += len(report["pending"])
        v.refused_for_good += len(report["failed"])
        if fault_window:
            for item in report["pending"]:
                if fault_window[0] <= item.get("queued_at", 0) <= fault_window[1]:
                    v.queued_during_fault += 1
        diverged = False
        for room_id, shown in report["rooms"].items():
            expected = by_room.get(room_id, [])
            ids = [message_id for _, message_id in shown]
            duplicates = sum(n - 1 for n in Counter(ids).values() if n > 1)
            v.duplicates_shown += duplicates
            seqs = [seq for seq, _ in shown]
            if seqs != sorted(seqs):
                v.out_of_order_shown += 1
            expected_ids = {message_id for _, message_id in expected}
            missing = len(expected_ids - set(ids))
            extra = len(set(ids) - expected_ids)
            v.missing_shown += missing
            v.extra_shown += extra
            if [tuple(x) for x in shown] != [tuple(x) for x in expected]:
                diverged = True
                if len(v.examples) < 10:
                    v.examples.append(
                        f"client of {user} in room {room_id}: shows {len(shown)}, database has"
                        f" {len(expected)} ({missing} missing, {extra} extra, {duplicates} twice)"
                    )
        v.clients_diverged += diverged
    return v


def summarise(verdicts: list[Verdict]) -> dict[str, Any]:
    return {"ok": all(v.ok for v in verdicts)}
