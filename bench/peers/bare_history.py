"""Reference peer for the HTTP history page: a bare aiohttp handler returning a room's latest
messages from Campfire's own SQLite file.

`GET /api/rooms/{room_id}/messages[?limit=N]` (default 50) answers {"messages": [...]} with the
same rows and fields Campfire's handler selects (app/services/message_rows.py COLUMNS), oldest
first, as JSON (orjson, as Campfire; uvloop, as `campfire serve`). One sqlite3 connection with
app/db.py's pragmas, queried on the event loop's thread; no auth, no membership check, no
boosts or attachments: the least a server can do to serve that page from that database.

    python bench/peers/bare_history.py PORT DB

Listens on 127.0.0.1 only. SIGTERM stops it.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys

import orjson
from aiohttp import web

COLUMNS = (
    "id",
    "room_id",
    "creator_id",
    "content",
    "client_message_id",
    "created_at",
    "seq",
    "edited_at",
    "deleted",
    "rev",
    "mention_ids",
)
LATEST = f"SELECT {', '.join(COLUMNS)} FROM messages WHERE room_id = ? ORDER BY seq DESC LIMIT ?"


def iso(value: str | None) -> str | None:
    # SQLite holds UTC text without a zone ("2026-01-01 10:00:00.123456")
    return None if value is None else value.replace(" ", "T") + "Z"


def make_app(path: str) -> web.Application:
    db = sqlite3.connect(path, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA busy_timeout=10000")
    db.execute("PRAGMA synchronous=NORMAL")

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def history(request: web.Request) -> web.Response:
        limit = int(request.query.get("limit", "50"))
        rows = db.execute(LATEST, (request.match_info["room_id"], limit)).fetchall()
        messages = []
        for row in reversed(rows):
            m = dict(zip(COLUMNS, row, strict=True))
            m["created_at"] = iso(m["created_at"])
            m["edited_at"] = iso(m["edited_at"])
            m["deleted"] = bool(m["deleted"])
            m["mention_ids"] = orjson.loads(m["mention_ids"] or "[]")
            m["boosts"] = []
            m["attachments"] = []
            messages.append(m)
        body = orjson.dumps({"messages": messages})
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/rooms/{room_id}/messages", history)
    return app


def main() -> None:
    port = int(sys.argv[1])
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    web.run_app(make_app(sys.argv[2]), host="127.0.0.1", port=port, print=None)


if __name__ == "__main__":
    main()
