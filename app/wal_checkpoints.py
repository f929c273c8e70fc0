"""SQLite's WAL checkpoints, taken off the commit path.

By default SQLite checkpoints inside whichever commit pushes the write-ahead log past 1,000
pages: that commit also copies the log's pages into the database file and syncs both. With
the message writer's group commits (batches of ~40 messages dirty ~100 pages) that was every
tenth commit or so, and those commits took 11-13 ms against a median of ~1 ms; a message's
`MessageDelivered` waits for its commit, so the checkpoints made the ack latency's tail.

Here a thread of its own runs a PASSIVE checkpoint ten times a second (it never blocks a
writer or a reader; it copies what no reader still needs and leaves the rest for the next
one). Durability does not change: a commit is in the log (synced as `synchronous=NORMAL`
says) before it is acked.

What the thread cannot do is start the log over: SQLite rewinds it only when a writer begins
while every frame is already copied, and a busy writer always has a commit in flight. So
connections keep an automatic checkpoint at 10x the default size, as a backstop: under
sustained writes the log grows to it and that commit checkpoints (what the thread has not
copied yet) and lets the next one start the log over; it also bounds the log of a process
that runs no checkpointer, such as the CLI. docs/benchmarks.md (session 8) has the numbers.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

# The backstop: 10x SQLite's default, ~40 MB of log with 4 KiB pages.
AUTOCHECKPOINT_BACKSTOP_PAGES = 10_000
CHECKPOINT_INTERVAL_S = 0.1


class WalCheckpointer:
    """Runs `PRAGMA wal_checkpoint(PASSIVE)` every `interval` seconds on its own connection."""

    def __init__(
        self, connect: Callable[[], sqlite3.Connection], interval: float = CHECKPOINT_INTERVAL_S
    ) -> None:
        self._connect = connect
        self._interval = interval
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="campfire-checkpointer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping.set()
        thread.join()

    def _run(self) -> None:
        connection = self._connect()
        failing = False
        try:
            while not self._stopping.wait(self._interval):
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error as error:
                    # The backstop keeps the log bounded meanwhile; say so once per spell.
                    if not failing:
                        log.warning("WAL checkpoint failed (will retry): %s", error)
                    failing = True
                    continue
                failing = False
        finally:
            connection.close()
