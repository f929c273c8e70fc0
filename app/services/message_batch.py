"""One batch of new messages, written in the caller's transaction (see `message_store`).

`write_batch` holds the rules (resends found by client_message_id, membership of sender and
mentioned users, attachments claimed, gapless seqs per room, the sender's read mark) over the
operations of `BatchOps`, which each database implements its own fastest way:
`message_batch_postgres.PgBatch` and `message_batch_sqlite.SqliteBatch`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from app.models import new_message_id
from app.schemas import MessageOut
from app.services import message_rows


@dataclass(frozen=True, slots=True)
class Draft:
    creator_id: str
    room_id: str
    content: str
    client_message_id: str
    mention_ids: tuple[str, ...] = ()
    attachment_ids: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        return (self.creator_id, self.client_message_id)


@dataclass(frozen=True, slots=True)
class Outcome:
    # bad_mentions: a mentioned user is not a member of the room; bad_attachments: one of
    # attachment_ids is not an unused upload of the sender to the room.
    kind: Literal["stored", "existing", "not_member", "bad_mentions", "bad_attachments"]
    message: MessageOut | None = None


class BatchOps(Protocol):
    """The statements a batch needs, for one open transaction."""

    def existing(self, keys: list[tuple[str, str]]) -> list[MessageOut]: ...
    def memberships(self, pairs: list[tuple[str, str]]) -> set[tuple[str, str]]: ...
    def allocate_seqs(self, counts: dict[str, int], now: datetime) -> dict[str, int]:
        """Add `counts[room]` to each room's last_seq; return the new last_seq per room."""
        ...

    def insert(self, rows: list[dict[str, Any]]) -> None: ...
    def claim_attachments(self, message_id: str, draft: Draft) -> bool:
        """Give the draft's attachments to its message, all or none."""
        ...

    def mark_read(self, marks: list[tuple[int, str, str]]) -> None:
        """Move each (seq, room, user) member's last_read_seq forward to seq."""
        ...


def write_batch(ops: BatchOps, drafts: list[Draft], now: datetime) -> list[Outcome]:
    """Store a batch in the caller's transaction; one outcome per draft, in order."""
    found = ops.existing(list({draft.key for draft in drafts}))
    existing = {(m.creator_id, m.client_message_id): m for m in found}
    pairs = {(d.room_id, d.creator_id) for d in drafts}
    pairs.update((d.room_id, user_id) for d in drafts for user_id in d.mention_ids)
    members = ops.memberships(list(pairs))
    by_key: dict[tuple[str, str], Outcome] = {}
    fresh: dict[str, list[Draft]] = defaultdict(list)
    ids: dict[tuple[str, str], str] = {}
    for draft in drafts:
        if draft.key in by_key or draft.key in existing:
            continue
        if (draft.room_id, draft.creator_id) not in members:
            by_key[draft.key] = Outcome("not_member")
            continue
        if any((draft.room_id, user_id) not in members for user_id in draft.mention_ids):
            by_key[draft.key] = Outcome("bad_mentions")
            continue
        message_id = new_message_id()
        if draft.attachment_ids and not ops.claim_attachments(message_id, draft):
            by_key[draft.key] = Outcome("bad_attachments")
            continue
        ids[draft.key] = message_id
        fresh[draft.room_id].append(draft)
        by_key[draft.key] = Outcome("stored")  # placeholder until its seq is known
    rows = []
    last_seqs = ops.allocate_seqs({room: len(fresh[room]) for room in fresh}, now) if fresh else {}
    for room_id in sorted(fresh):
        room_drafts = fresh[room_id]
        first_seq = last_seqs[room_id] - len(room_drafts) + 1
        for offset, draft in enumerate(room_drafts):
            row = {
                "id": ids[draft.key],
                "room_id": draft.room_id,
                "creator_id": draft.creator_id,
                "content": draft.content,
                "client_message_id": draft.client_message_id,
                "created_at": now,
                "seq": first_seq + offset,
                "mention_ids": message_rows.mentions_json(draft.mention_ids),
            }
            rows.append(row)
            message = message_rows.just_stored(row, draft.mention_ids)
            by_key[draft.key] = Outcome("stored", message)
    if rows:
        ops.insert(rows)
        # Sending marks the room read up to the message for its sender (PROTOCOL.md 9.2).
        read_to: dict[tuple[str, str], int] = {}
        for row in rows:
            read_to[(row["room_id"], row["creator_id"])] = row["seq"]  # rows ascend by seq
        ops.mark_read([(seq, room, user) for (room, user), seq in read_to.items()])
    outcomes = []
    answered: set[tuple[str, str]] = set()
    for draft in drafts:
        if draft.key in existing:
            outcomes.append(Outcome("existing", existing[draft.key]))
        elif draft.key in answered and by_key[draft.key].kind == "stored":
            # The same client_message_id twice in one batch: the second is a resend.
            outcomes.append(Outcome("existing", by_key[draft.key].message))
        else:
            outcomes.append(by_key[draft.key])
        answered.add(draft.key)
    return outcomes
