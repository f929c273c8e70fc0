"""The deployment's VAPID key pair (RFC 8292): made once and stored, or configured.

`CAMPFIRE_VAPID_PRIVATE_KEY` takes the private key as URL-safe base64 of the raw 32-byte
scalar (what `web-push generate-vapid-keys` prints), of a DER key, or as PEM. Without it the
first process that needs the pair makes one and stores it in `vapid_keys`; a process that
loses the race to store it reads the winner's, so every process signs with the same key.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from app import models
from app.db import Database

VAPID_KEYS = models.VapidKey.__table__  # type: ignore[attr-defined]
# A signed token is reused for this long per push service (RFC 8292 allows up to 24 h).
TOKEN_LIFETIME_SECONDS = 12 * 3600


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parse_private_key(text: str) -> ec.EllipticCurvePrivateKey:
    """A P-256 private key from raw base64url, DER base64(url) or PEM text."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(text.encode(), password=None)
    else:
        raw = b64url_decode(text.replace("+", "-").replace("/", "_").replace("\n", ""))
        if len(raw) == 32:
            return ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
        key = serialization.load_der_private_key(raw, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError("the VAPID private key must be a P-256 (prime256v1) key")
    return key


def public_key_of(key: ec.EllipticCurvePrivateKey) -> str:
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return b64url(point)


def raw_private(key: ec.EllipticCurvePrivateKey) -> str:
    return b64url(key.private_numbers().private_value.to_bytes(32, "big"))


@dataclass
class VapidSigner:
    """Signs the `Authorization: vapid t=..., k=...` header per push service origin."""

    key: ec.EllipticCurvePrivateKey
    subject: str
    public_key: str = ""
    _tokens: dict[str, tuple[float, dict[str, str]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.public_key = public_key_of(self.key)
        self._vapid = Vapid02(self.key)

    def headers(self, endpoint: str) -> dict[str, str]:
        parts = urlsplit(endpoint)
        audience = f"{parts.scheme}://{parts.netloc}"
        now = time.time()
        cached = self._tokens.get(audience)
        if cached is not None and cached[0] - now > 600:
            return cached[1]
        expires = int(now) + TOKEN_LIFETIME_SECONDS
        claims = {"aud": audience, "exp": expires, "sub": self.subject}
        headers = self._vapid.sign(claims)
        self._tokens[audience] = (expires, headers)
        return headers


async def load_or_create(db: Database, configured: str | None) -> ec.EllipticCurvePrivateKey:
    if configured:
        return parse_private_key(configured)
    async with db.engine.connect() as connection:
        row = (await connection.execute(select(VAPID_KEYS.c.private_key))).first()
    if row is not None:
        return parse_private_key(row[0])
    key = ec.generate_private_key(ec.SECP256R1())
    try:
        async with db.engine.begin() as connection:
            await connection.execute(
                insert(VAPID_KEYS).values(
                    id=1,
                    private_key=raw_private(key),
                    public_key=public_key_of(key),
                    created_at=models.utcnow(),
                )
            )
    except IntegrityError:  # another process stored its pair first: use that one
        async with db.engine.connect() as connection:
            row = (await connection.execute(select(VAPID_KEYS.c.private_key))).first()
        assert row is not None
        return parse_private_key(row[0])
    return key
