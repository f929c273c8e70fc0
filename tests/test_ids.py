"""Ids (app/models.py): random UUIDs from pooled os.urandom, never the same twice, also
across a fork (a child must not hand out its parent's pooled bytes)."""

from __future__ import annotations

import multiprocessing
import uuid
from concurrent.futures import ThreadPoolExecutor

from app.models import new_id


def _child_ids(queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    queue.put([new_id() for _ in range(3)])


def test_ids_are_random_uuids_never_repeated_across_threads() -> None:
    with ThreadPoolExecutor(4) as pool:
        batches = list(pool.map(lambda _: [new_id() for _ in range(2_000)], range(4)))
    ids = [i for batch in batches for i in batch]
    assert len(set(ids)) == len(ids) == 8_000
    assert {uuid.UUID(i).version for i in ids} == {4}


def test_a_forked_child_does_not_repeat_its_parents_ids() -> None:
    new_id()  # the parent now holds a block of random bytes
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child_ids, args=(queue,))
    child.start()
    from_child = queue.get(timeout=30)
    child.join(30)
    from_parent = [new_id() for _ in range(3)]
    assert not set(from_child) & set(from_parent)
