"""Direct rooms are identified by their member set, so that one conversation has one room."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlmodel import select

from app import models
from app.db import Database


def direct_key(member_ids: Iterable[str]) -> str:
    """The unique key of a direct room: a digest of its sorted, distinct member ids.

    The migration that introduced it computes the same digest for existing rooms.
    """
    return hashlib.sha256(",".join(sorted(set(member_ids))).encode()).hexdigest()


async def find_direct(db: Database, key: str) -> models.Room | None:
    async with db.session() as session:
        result = await session.exec(select(models.Room).where(models.Room.direct_key == key))
        return result.first()
