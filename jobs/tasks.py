"""The job functions. Each takes arq's `ctx` dict, whose "services" entry is the domain layer."""

from __future__ import annotations

import logging
from typing import Any

from app.services import Services

log = logging.getLogger(__name__)


def _services(ctx: dict[str, Any]) -> Services:
    return ctx["services"]


async def presence_cleanup(ctx: dict[str, Any]) -> int:
    """Remove connections whose heartbeat is stale (their process died); announce UserLeft."""
    removed = await _services(ctx).presence.cleanup_stale()
    if removed:
        log.info("presence cleanup removed %d stale connections", removed)
    return removed


async def typing_expiry(ctx: dict[str, Any]) -> int:
    """End typing not refreshed within the timeout and send TypingStop for it."""
    return await _services(ctx).typing.expire()


async def backfill(
    ctx: dict[str, Any],
    sid: str,
    room_ids: list[str],
    last_seen: dict[str, int] | None = None,
    last_seen_message_id: str | None = None,
    last_rev: dict[str, int] | None = None,
    inbox: str | None = None,
) -> int:
    """Send one connection what it missed (PROTOCOL.md section 5), then the changes to
    messages after its `last_rev` (9.1), then SyncComplete: in one step, and from the arq
    worker in one message to `inbox`, the channel of the process holding the connection."""
    services = _services(ctx)
    replay = await services.messages.missed(
        room_ids,
        last_seen=last_seen,
        last_seen_message_id=last_seen_message_id,
        last_rev=last_rev,
    )
    notifier = services.notifier
    events: list[tuple[str, dict[str, Any]]] = [
        ("NewMessage", {"message": message, "room_id": message["room_id"]})
        for message in replay.messages
    ]
    events.extend(
        ("MessageUpdated", {"room_id": m["room_id"], "rev": m["rev"], "message": m})
        for m in replay.updates
    )
    sync_complete = {
        "rooms": replay.rooms,
        "missed_count": len(replay.messages),
        "truncated": replay.truncated,
    }
    events.append(("SyncComplete", sync_complete))
    await notifier.to_connection_many(sid, events, via=inbox)
    services.metrics.replayed_messages.inc(len(replay.messages))
    return len(replay.messages)


async def make_thumbnail(ctx: dict[str, Any], attachment_id: str) -> bool:
    """Thumbnail an uploaded image and record its width and height (PROTOCOL.md 9.4)."""
    return await _services(ctx).attachments.make_thumbnail(attachment_id)


async def sweep_orphan_attachments(ctx: dict[str, Any]) -> int:
    """Remove uploads that no message took within a day (CAMPFIRE_ORPHAN_ATTACHMENT_HOURS)."""
    removed = await _services(ctx).attachments.sweep_orphans()
    if removed:
        log.info("removed %d attachments never sent", removed)
    return removed


async def webhook(ctx: dict[str, Any], bot_id: str, message_id: str) -> str:
    """POST a message to a bot's webhook and post its answer (PROTOCOL.md 9.6). One try."""
    return await _services(ctx).bots.deliver_webhook(bot_id, message_id)
