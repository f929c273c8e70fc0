"""A local Web Push service for the tests: an aiohttp endpoint on 127.0.0.1 that checks each
push the way a real push service and browser would.

For every subscription it makes a browser's key pair (P-256) and auth secret. A push must
carry a VAPID `Authorization: vapid t=<JWT>, k=<key>` (RFC 8292) whose key is the server's
published one, whose ES256 signature verifies, whose `aud` is this service's origin and whose
`exp` is in the next 24 hours; its body is decrypted (RFC 8291, aes128gcm) with the
subscription's private key and auth secret. Each endpoint answers with the status a test sets.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

import http_ece
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from multidict import CIMultiDict

from tests.support import WAIT, free_port


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Received:
    endpoint: str
    status: int  # what the service answered
    payload: dict[str, Any] | None  # decrypted JSON (None when the push was refused)
    headers: CIMultiDict[str]
    problem: str | None = None  # why the push was not valid, if it was not


@dataclass
class Subscriber:
    """One browser subscription: its keys and the JSON a browser would POST."""

    endpoint: str
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth: bytes = field(default_factory=lambda: os.urandom(16))
    status: int = 201  # what the service answers for this endpoint

    @property
    def json(self) -> dict[str, Any]:
        point = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        keys = {"p256dh": b64url(point), "auth": b64url(self.auth)}
        return {"endpoint": self.endpoint, "keys": keys}


class PushService:
    def __init__(self) -> None:
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.vapid_key: str | None = None  # the server's public key, once known
        self.subscribers: dict[str, Subscriber] = {}
        self.received: list[Received] = []
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None

    def subscriber(self, status: int = 201) -> Subscriber:
        name = os.urandom(8).hex()
        sub = Subscriber(endpoint=f"{self.origin}/push/{name}", status=status)
        self.subscribers[sub.endpoint] = sub
        return sub

    async def start(self) -> PushService:
        app = web.Application()
        app.router.add_post("/push/{name}", self._push)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def to(self, sub: Subscriber) -> list[Received]:
        return [r for r in self.received if r.endpoint == sub.endpoint]

    async def wait(self, sub: Subscriber, count: int, timeout: float = WAIT) -> list[Received]:
        """Wait until `sub` has received `count` pushes; return them."""

        async def scan() -> list[Received]:
            while len(self.to(sub)) < count:
                self._changed.clear()
                await self._changed.wait()
            return self.to(sub)

        return await asyncio.wait_for(scan(), timeout)

    async def _push(self, request: web.Request) -> web.Response:
        endpoint = f"{self.origin}{request.path}"
        sub = self.subscribers.get(endpoint)
        body = await request.read()
        headers = CIMultiDict(request.headers)
        payload, problem = None, None
        if sub is None:
            status, problem = 404, "unknown endpoint"
        else:
            status = sub.status
            try:
                self._check_vapid(headers.get("Authorization", ""))
                if headers.get("Content-Encoding") != "aes128gcm":
                    raise ValueError(f"content encoding {headers.get('Content-Encoding')}")
                if "TTL" not in headers:
                    raise ValueError("no TTL header")
                plain = http_ece.decrypt(
                    body, private_key=sub.key, auth_secret=sub.auth, version="aes128gcm"
                )
                payload = json.loads(plain)
            except Exception as exc:  # recorded, and answered like a push service would
                problem, status = f"{type(exc).__name__}: {exc}", 400
        self.received.append(Received(endpoint, status, payload, headers, problem))
        self._changed.set()
        return web.Response(status=status)

    def _check_vapid(self, authorization: str) -> None:
        scheme, _, rest = authorization.partition(" ")
        if scheme.lower() != "vapid":
            raise ValueError(f"authorization scheme {scheme!r}")
        parts = dict(item.strip().split("=", 1) for item in rest.split(","))
        token, key = parts["t"], parts["k"]
        if self.vapid_key is not None and key != self.vapid_key:
            raise ValueError("k is not the server's published VAPID key")
        header_b64, claims_b64, signature_b64 = token.split(".")
        header = json.loads(unb64url(header_b64))
        claims = json.loads(unb64url(claims_b64))
        if header.get("alg") != "ES256":
            raise ValueError(f"alg {header.get('alg')}")
        signature = unb64url(signature_b64)
        if len(signature) != 64:
            raise ValueError("an ES256 JWT signature is 64 bytes (r || s)")
        der = encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(key))
        try:
            public.verify(der, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise ValueError("the VAPID JWT signature does not verify") from None
        if claims.get("aud") != self.origin:
            raise ValueError(f"aud {claims.get('aud')!r}")
        if not time.time() < claims["exp"] <= time.time() + 24 * 3600:
            raise ValueError("exp not within the next 24 hours")
        if not str(claims.get("sub", "")).startswith(("mailto:", "https:")):
            raise ValueError("sub must be a mailto: or https: URL")
