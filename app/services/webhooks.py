"""Bots' webhooks: where they may point, and one guarded POST.

A webhook URL is chosen by an admin but fetched by the server, so it could aim the server at
its own network (server-side request forgery). Loopback, private, link-local and every other
non-global address is refused unless CAMPFIRE_WEBHOOK_ALLOW_PRIVATE=1, both when the URL is
saved and when it is sent to: the name is resolved again at send time and the connection goes
only to an address that passed, so a name that later resolves elsewhere gains nothing.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from app.errors import CampfireError, invalid

MAX_REPLY_BYTES = 256 * 1024
RESOLVE_TIMEOUT_SECONDS = 3.0


class TargetRefused(Exception):
    """The webhook's address is not allowed."""


def allowed_address(address: str, allow_private: bool) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if allow_private:
        return True
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_global


def _host(url: str) -> str:
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018  (raises for a port that is not a number)
    except ValueError:
        raise invalid("webhook_url is not a URL") from None
    if parts.scheme not in ("http", "https") or not host:
        raise invalid("webhook_url must be an http or https URL")
    return host


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def check_url(url: str, allow_private: bool) -> None:
    """Refuse (invalid_message_format) a webhook URL aimed at a non-global address.

    A name that does not resolve now is accepted: it is resolved again at every send.
    """
    host = _host(url)
    if _is_literal(host):
        addresses = [host]
    else:
        try:
            infos = await asyncio.wait_for(
                asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM),
                RESOLVE_TIMEOUT_SECONDS,
            )
        except (OSError, TimeoutError):
            return
        addresses = [str(info[4][0]) for info in infos]
    if not all(allowed_address(a, allow_private) for a in addresses):
        raise invalid(
            "webhook_url points at a loopback or private address "
            "(allowed only with CAMPFIRE_WEBHOOK_ALLOW_PRIVATE=1)"
        )


class GuardedResolver(AbstractResolver):
    """Resolves as usual, then keeps only the addresses a webhook may reach."""

    def __init__(self, allow_private: bool) -> None:
        self._inner = DefaultResolver()
        self._allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        kept = [r for r in results if allowed_address(r["host"], self._allow_private)]
        if not kept:
            raise TargetRefused(f"{host} resolves only to refused addresses")
        return kept

    async def close(self) -> None:
        await self._inner.close()


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: str  # ok, refused, timeout, error, bad_status
    reply: str | None = None
    detail: str = ""


async def post(
    url: str, payload: dict[str, Any], *, seconds: float, allow_private: bool
) -> Outcome:
    """POST the payload; a 2xx answer's text, or its JSON `{content}`, is the reply."""
    try:
        host = _host(url)
    except CampfireError as exc:
        return Outcome("refused", detail=exc.message)
    if _is_literal(host) and not allowed_address(host, allow_private):
        return Outcome("refused", detail=f"{host} is not a global address")
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(allow_private), use_dns_cache=False)
    try:
        async with aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=seconds)
        ) as session:
            async with session.post(
                url,
                data=orjson.dumps(payload),
                headers={"Content-Type": "application/json", "User-Agent": "Campfire-Webhook"},
                allow_redirects=False,  # a redirect could lead anywhere
            ) as response:
                if not 200 <= response.status < 300:
                    return Outcome("bad_status", detail=f"HTTP {response.status}")
                body = await response.content.read(MAX_REPLY_BYTES)
                return Outcome("ok", reply=_reply(body, response.content_type))
    except TargetRefused as exc:
        return Outcome("refused", detail=str(exc))
    except aiohttp.ClientConnectorError as exc:
        if isinstance(exc.os_error, TargetRefused):
            return Outcome("refused", detail=str(exc.os_error))
        return Outcome("error", detail=str(exc))
    except TimeoutError:
        return Outcome("timeout", detail=f"no answer within {seconds:g} s")
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        return Outcome("error", detail=f"{type(exc).__name__}: {exc}")


def _reply(body: bytes, content_type: str) -> str | None:
    text = body.decode("utf-8", "replace")
    if content_type == "application/json" or text.lstrip().startswith("{"):
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            data = None
        if isinstance(data, dict):
            content = data.get("content")
            return content if isinstance(content, str) and content.strip() else None
    return text if text.strip() else None
