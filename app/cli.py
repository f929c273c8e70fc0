"""The `campfire` command: serve, worker, migrate, user create."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from app.config import Settings

log = logging.getLogger("app.cli")
LISTEN_BACKLOG = 4096

# `campfire serve` options that override the environment, as PROTOCOL.md section 8 asks.
LIMIT_OPTIONS = [
    ("max-connections-per-user", "max_connections_per_user"),
    ("max-connections", "max_connections"),
    ("max-rooms-per-connection", "max_rooms_per_connection"),
    ("live-presence-max-members", "live_presence_max_members"),
    ("room-member-ids-max", "room_member_ids_max"),
    ("message-rate", "message_rate"),
    ("typing-rate", "typing_rate"),
    ("connect-rate", "connect_rate"),
    ("login-rate", "login_rate"),
    ("handshakes-in-flight", "handshakes_in_flight"),
    ("handshakes-waiting", "handshakes_waiting"),
    ("handshake-wait-seconds", "handshake_wait_seconds"),
    ("trusted-proxies", "trusted_proxies"),
    ("session-ttl-days", "session_ttl_days"),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="campfire", description="Campfire team chat")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run a web process")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    for flag, _ in LIMIT_OPTIONS:
        serve.add_argument(f"--{flag}")

    commands.add_parser("migrate", help="bring the database schema up to date")
    commands.add_parser("worker", help="run the arq worker (REDIS_URL), riding out Redis restarts")

    user = commands.add_parser("user", help="manage users")
    user_commands = user.add_subparsers(dest="user_command", required=True)
    create = user_commands.add_parser("create", help="create a user")
    create.add_argument("--name", required=True)
    create.add_argument("--email", required=True)
    create.add_argument("--password", required=True)
    create.add_argument("--admin", action="store_true")
    create.add_argument("--bot", action="store_true")

    args = parser.parse_args(argv)
    if args.command == "serve":
        for flag, field in LIMIT_OPTIONS:
            value = getattr(args, flag.replace("-", "_"))
            if value is not None:
                os.environ[f"CAMPFIRE_{field.upper()}"] = value
        if args.host:
            os.environ["HOST"] = args.host
        if args.port:
            os.environ["PORT"] = str(args.port)
    settings = Settings()
    from app.logs import configure

    configure(settings.log)
    if args.command == "serve":
        return serve_command(settings)
    if args.command == "worker":
        from jobs.supervise import main as worker_main

        return worker_main()
    if args.command == "migrate":
        from app.migrate import upgrade

        upgrade(settings.database_url)
        log.info("database schema is up to date")
        return 0
    return asyncio.run(create_user(settings, args))


def serve_command(settings: Settings) -> int:
    from app.heap import settle_after_startup
    from app.http_server import Listen, run
    from app.main import create_app, gateway_key
    from app.migrate import upgrade
    from app.realtime.engineio_seam import front_door

    if settings.is_sqlite:
        upgrade(settings.database_url)
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is optional on exotic platforms
        pass
    asyncio.run(_explain_first_run(settings))
    application = create_app(settings)
    if settings.gc_tuning:
        settle_after_startup()
    listen = Listen(
        host=settings.host,
        port=settings.port,
        # aiohttp listens with a backlog of 128; after a restart thousands of clients come
        # back at once, and an overflowing backlog makes them wait out SYN retransmits.
        backlog=LISTEN_BACKLOG,
        shutdown_timeout=2.0,
        access_log=logging.getLogger("aiohttp.access") if settings.access_log else None,
    )
    run(application, listen, wrap=lambda app: front_door(app[gateway_key].sio))
    return 0


async def _explain_first_run(settings: Settings) -> None:
    from app.db import Database
    from app.services.users import UserService

    db = Database(settings.database_url)
    try:
        if await UserService(db).count() == 0:
            log.warning(
                "no users yet: open the web UI to set up the first admin, or create one with\n"
                "  campfire user create --name 'Your Name' --email you@example.com "
                "--password 'a long password' --admin"
            )
    except Exception:
        log.warning("database is not migrated yet: run `campfire migrate`")
    finally:
        await db.close()


async def create_user(settings: Settings, args: argparse.Namespace) -> int:
    from sqlalchemy.exc import DBAPIError

    from app.db import Database
    from app.errors import CampfireError
    from app.models import Role
    from app.schemas import CreateUserIn, parse
    from app.services.users import UserService

    role = Role.admin if args.admin else Role.bot if args.bot else Role.member
    if settings.is_sqlite:
        from app.migrate import upgrade

        await asyncio.to_thread(upgrade, settings.database_url)
    db = Database(settings.database_url)
    try:
        data = parse(
            CreateUserIn,
            {"name": args.name, "email_address": args.email, "password": args.password},
        )
        user = await UserService(db).create(
            None,
            name=data.name,
            email_address=data.email_address,
            password=data.password,
            role=role,
        )
    except CampfireError as exc:
        print(f"campfire: {exc.message}", file=sys.stderr)
        return 1
    except (DBAPIError, OSError) as exc:
        # Typically PostgreSQL before `campfire migrate` (only SQLite is migrated here), or a
        # database that does not answer: say what to do instead of printing a traceback.
        print(
            f"campfire: the database refused the user ({type(exc).__name__}); is it reachable "
            "and migrated? Run `campfire migrate` first.",
            file=sys.stderr,
        )
        return 1
    finally:
        await db.close()
    print(f"created {role} {user.name} <{user.email_address}> with id {user.id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
