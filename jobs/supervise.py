"""Run the arq worker so that it rides out Redis restarts: `python -m jobs` / `campfire worker`.

arq's own runner (`arq jobs.worker.WorkerSettings`) lets the first `ConnectionError` of its
poll loop escape and exits 1: a three-second Redis restart stopped every worker for good, and
with it the sweeps and the replays that new sockets wait for. Here each failure of that kind
closes the worker (its `on_shutdown` included, so nothing leaks) and starts a fresh one after
a short, capped backoff, until SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

from arq.worker import Worker, create_worker
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# Between attempts while Redis is away; short, since replays of connecting clients wait.
FIRST_DELAY = 0.5
MAX_DELAY = 5.0
# Errors that mean "Redis went away", as opposed to a bug that restarting would only repeat.
TRANSIENT = (RedisError, OSError, asyncio.TimeoutError)


class Supervisor:
    def __init__(self, settings_cls: Any, **overrides: Any) -> None:
        self._settings_cls = settings_cls
        self._overrides = overrides
        self._stopping = asyncio.Event()
        self.worker: Worker | None = None
        self.restarts = 0

    def stop(self) -> None:
        self._stopping.set()
        if self.worker is not None:
            self.worker.handle_sig(signal.SIGTERM)

    async def run(self) -> None:
        delay = FIRST_DELAY
        while not self._stopping.is_set():
            worker = create_worker(self._settings_cls, handle_signals=False, **self._overrides)
            self.worker = worker
            failure: BaseException | None = None
            try:
                await worker.async_run()
            except asyncio.CancelledError:
                if not self._stopping.is_set():
                    raise
            except TRANSIENT as exc:
                failure = exc
            finally:
                await _close(worker)
                self.worker = None
            if self._stopping.is_set():
                break
            if failure is None:
                delay = FIRST_DELAY  # it ran and returned (burst mode): run again
            self.restarts += 1
            log.warning(
                "worker lost Redis (%s: %s); starting a new one in %.1f s",
                type(failure).__name__,
                failure,
                delay,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            delay = min(delay * 2, MAX_DELAY)


async def _close(worker: Worker) -> None:
    """Worker.close, which with Redis away fails before it runs `on_shutdown`: then run it here,
    so that the context (database pool, metrics port) of this incarnation is released."""
    shut_down = False
    on_shutdown = worker.on_shutdown

    async def marked(ctx: dict[str, Any]) -> None:
        nonlocal shut_down
        shut_down = True
        if on_shutdown is not None:
            await on_shutdown(ctx)

    worker.on_shutdown = marked
    try:
        await worker.close()
    except (Exception, asyncio.CancelledError) as exc:  # cancelled job tasks re-raise here
        log.info("closing the worker after losing Redis: %s", exc)
    if not shut_down and on_shutdown is not None and worker.ctx.get("services") is not None:
        with contextlib.suppress(Exception):
            await on_shutdown(worker.ctx)
    if worker._pool is not None:  # close() stopped early: drop the dead pool ourselves
        with contextlib.suppress(Exception):
            await worker._pool.close(close_connection_pool=True)
        worker._pool = None


async def supervise(settings_cls: Any) -> int:
    supervisor = Supervisor(settings_cls)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, supervisor.stop)
    await supervisor.run()
    return 0


def main() -> int:
    from app.logs import configure
    from jobs.worker import WorkerSettings

    configure(WorkerSettings.settings.log)
    return asyncio.run(supervise(WorkerSettings))
