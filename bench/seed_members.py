"""Adds one open room of N new members, each with a session token, to a Campfire SQLite file
that no server has open, for the `bigroom` scenario; prints {"room_id", "members": [{id,
token}]} as JSON.

Users made through the API cost two argon2 hashes each (an hour of CPU for 10,000), so these
are written directly with the app's own models (the columns' defaults are the app's): a
password nobody can sign in with ("!", as bots have) and a session made the way
app/services/auth.py makes one (a random token, stored as its SHA-256). Run with the project's
virtualenv:

    .venv/bin/python bench/seed_members.py DB N CREATOR_ID
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine  # noqa: E402
from sqlmodel import Session  # noqa: E402

from app import models  # noqa: E402
from app.security import new_token, token_hash  # noqa: E402


def main() -> int:
    db, count, creator = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    engine = create_engine(f"sqlite:///{db}")
    now = models.utcnow()
    members = []
    with Session(engine) as session:
        room = models.Room(name="all-talk", kind="open", creator_id=creator)
        session.add(room)
        for k in range(count):
            user = models.User(
                name=f"Member {k}",
                email_address=f"bench-member-{k}@bench.invalid",
                password_hash="!",
            )
            token = new_token()
            session.add(user)
            session.add(
                models.Session(
                    token_hash=token_hash(token),
                    user_id=user.id,
                    created_at=now,
                    last_active_at=now,
                    expires_at=now + timedelta(days=30),
                )
            )
            session.add(models.Membership(room_id=room.id, user_id=user.id))
            members.append({"id": user.id, "token": token})
        session.commit()
        room_id = room.id
    engine.dispose()
    print(json.dumps({"room_id": room_id, "members": members}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
