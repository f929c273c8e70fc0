"""The cyclic garbage collector's settings for a long-running web process.

A process holding thousands of sockets keeps hundreds of thousands of long-lived objects
(modules, the app, every connection's objects). CPython's default thresholds (700, 10, 10)
then run a young collection every 700 container allocations and a full collection, which
walks every tracked object, whenever enough survivors pile up: during a reconnect storm that
is the largest single cost of the server (docs/benchmarks.md, "Read state on the connect
path"). Two changes, measured there:

- `gc.freeze()` once start-up is done: what was built to serve (imported modules, the app,
  the services) lives as long as the process, so full collections no longer walk it.
- a larger young generation (20,000): short-lived request and event objects die young
  without a collection for every few hundred.
- the middle generation collected after every second young collection, the oldest after
  every 200 of those (20,000 / 2 / 200): a full collection is as rare as with 20 / 20 (every
  400 young ones), and every object that survives is still walked once in the middle
  generation, so the work is the same; but a middle collection walks at most two young
  generations' survivors. While thousands of sockets connect nearly everything survives
  (each connection's objects), and with 20 / 20 one middle collection walked ~400,000 of
  them: pauses of ~200 ms of the event loop, now ~40 ms (docs/benchmarks.md).

Reference cycles are still collected, only later; memory per idle connection is measured by
the bench's idle scenario. `CAMPFIRE_GC_TUNING=0` keeps CPython's defaults.
"""

from __future__ import annotations

import gc

THRESHOLDS = (20_000, 2, 200)


def settle_after_startup() -> None:
    """Call once the app is built, before serving."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
