"""How big one AuthSuccess is for a member of a 10,000-member room, with the whole member
list (CAMPFIRE_ROOM_MEMBER_IDS_MAX=0, the old behaviour) and with `member_count` (the default
bound, 1,000), and how long the overview query (`member_rooms`, the one `Database.read` each
authenticating socket makes) takes either way. A measurement, not a benchmark scenario:

    nice -n 19 .venv/bin/python bench/member_ids_size.py DIR [N]

DIR gets a fresh SQLite file, migrated with `campfire migrate` and seeded with
bench/seed_members.py (N members, default 10,000).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
from sqlalchemy import create_engine  # noqa: E402
from sqlmodel import Session  # noqa: E402

from app import models  # noqa: E402
from app.db import _core_query  # noqa: E402
from app.schemas import UserOut, wire  # noqa: E402
from app.services.readstate import member_rooms  # noqa: E402


def main() -> int:
    folder, count = Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "members.sqlite3"
    db.unlink(missing_ok=True)
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db}"}
    campfire = [sys.executable, "-m", "app.cli"]
    subprocess.run([*campfire, "migrate"], env=env, cwd=ROOT, check=True, capture_output=True)
    engine = create_engine(f"sqlite:///{db}")
    creator = models.User(name="Creator", email_address="creator@bench.invalid", password_hash="!")
    with Session(engine) as session:
        session.add(creator)
        session.commit()
        creator_id = creator.id
    seeded = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "seed_members.py"), str(db), str(count), creator_id],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    member = json.loads(seeded.stdout)["members"][0]["id"]
    with Session(engine) as session:
        user = wire(UserOut.of(session.get(models.User, member)))  # type: ignore[arg-type]
    results = {}
    with engine.connect() as connection:
        query = _core_query(connection)
        for label, bound in (("whole list (bound 0)", 0), ("member_count (bound 1000)", 1000)):
            rooms = member_rooms(query, member, None, bound)
            payload = {
                "user": user,
                "rooms": [wire(room) for room in rooms],
                "connection_id": str(uuid.uuid4()),
            }
            # The Socket.IO text frame the server sends: "42" then orjson (engineio_seam).
            frame = 2 + len(orjson.dumps(["AuthSuccess", payload]))
            times = []
            for _ in range(50):
                started = time.perf_counter()
                member_rooms(query, member, None, bound)
                times.append(time.perf_counter() - started)
            results[label] = {
                "auth_success_bytes": frame,
                "overview_ms_median": round(statistics.median(times) * 1000, 3),
                "overview_ms_p90": round(sorted(times)[int(len(times) * 0.9)] * 1000, 3),
            }
    engine.dispose()
    print(json.dumps({"members": count, **results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
