"""`campfire serve`'s listening socket: aiohttp's `web.run_app`, with one difference, the
protocol factory of accepted connections can be wrapped (the websocket front door,
app/realtime/engineio_seam/front_door.py). `run_app` offers no such hook, so this does
what it does for one TCP address: the application's runner (startup, signals, graceful
shutdown and cleanup), a listening socket, and on SIGINT/SIGTERM the listening socket
closed before the runner's cleanup, as a site's `stop` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

log = logging.getLogger(__name__)

ProtocolFactory = Callable[[], asyncio.BaseProtocol]
Wrap = Callable[[ProtocolFactory], ProtocolFactory]


@dataclass(frozen=True)
class Listen:
    host: str
    port: int
    backlog: int
    shutdown_timeout: float
    access_log: logging.Logger | None


def run(
    app: web.Application, listen: Listen, wrap: Callable[[web.Application], Wrap | None]
) -> None:
    """Serve `app` until SIGINT or SIGTERM; `wrap(app)`, once the app has started, may put
    a protocol factory in front of aiohttp's."""
    loop = asyncio.new_event_loop()
    main = loop.create_task(_serve(app, listen, wrap))
    try:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(main)
    except (web.GracefulExit, KeyboardInterrupt):
        pass
    finally:
        try:
            if not main.done():
                main.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    loop.run_until_complete(main)
        finally:
            _cancel_all(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()


async def _serve(
    app: web.Application, listen: Listen, wrap: Callable[[web.Application], Wrap | None]
) -> None:
    runner = web.AppRunner(
        app,
        handle_signals=True,
        shutdown_timeout=listen.shutdown_timeout,
        access_log=listen.access_log,
    )
    await runner.setup()
    try:
        http = runner.server
        assert http is not None
        wrapper = wrap(app)
        factory: ProtocolFactory = wrapper(http) if wrapper is not None else http
        listener = await asyncio.get_running_loop().create_server(
            factory, listen.host, listen.port, backlog=listen.backlog
        )
        try:
            log.info("listening on http://%s:%s", listen.host, listen.port)
            await asyncio.Future()  # until cancelled (SIGINT, SIGTERM)
        finally:
            listener.close()
    finally:
        await runner.cleanup()


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    tasks = asyncio.all_tasks(loop)
    if not tasks:
        return
    for task in tasks:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            loop.call_exception_handler(
                {
                    "message": "unhandled exception during shutdown",
                    "exception": task.exception(),
                    "task": task,
                }
            )
