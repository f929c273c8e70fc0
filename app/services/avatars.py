"""Avatar pictures: uploads checked and resized server-side (Pillow), or an initials SVG."""

from __future__ import annotations

import asyncio
import hashlib
import io
import warnings
from html import escape

from PIL import Image, ImageOps, UnidentifiedImageError

from app.errors import CampfireError, ErrorCode, invalid

MAX_AVATAR_BYTES = 5 * 1024 * 1024
AVATAR_SIZE = 256
# What a browser shows and Pillow reads safely. No SVG: it could carry script.
ACCEPTED_FORMATS = ("PNG", "JPEG", "GIF", "WEBP")
# A 5 MB file can still decode to a huge bitmap (a "decompression bomb"); refuse past this.
MAX_PIXELS = 40_000_000
STORED_TYPE = "image/webp"
COLOURS = ("#b45309", "#0f766e", "#1d4ed8", "#7c3aed", "#be123c", "#4d7c0f", "#0369a1")


class TooLarge(CampfireError):
    """413: the upload is over MAX_AVATAR_BYTES."""

    def __init__(self) -> None:
        super().__init__(ErrorCode.invalid_message_format, "an avatar may be at most 5 MB")

    @property
    def http_status(self) -> int:
        return 413


def _resize(data: bytes) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS) as image:
                if image.width * image.height > MAX_PIXELS:
                    raise invalid("the image has too many pixels")
                image.seek(0)  # the first frame of an animation
                image = ImageOps.exif_transpose(image)
                picture = image.convert("RGBA")
        except (
            UnidentifiedImageError,
            Image.DecompressionBombError,
            Image.DecompressionBombWarning,
        ):
            raise invalid("the avatar must be a PNG, JPEG, GIF or WebP image") from None
        except (OSError, ValueError, SyntaxError):
            raise invalid("the image could not be read") from None
    # Square, centred, AVATAR_SIZE on a side (smaller pictures are not blown up).
    side = min(AVATAR_SIZE, picture.width, picture.height)
    square = ImageOps.fit(picture, (side, side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    square.save(out, "WEBP", quality=85)
    return out.getvalue()


async def resize(data: bytes) -> bytes:
    """The stored avatar for an upload; `invalid_message_format` for anything not an image."""
    if len(data) > MAX_AVATAR_BYTES:
        raise TooLarge()
    if not data:
        raise invalid("the avatar is empty")
    return await asyncio.to_thread(_resize, data)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def initials(name: str) -> str:
    words = [w for w in name.split() if w[:1].isalnum()]
    if not words:
        return "?"
    letters = words[0][0] + (words[-1][0] if len(words) > 1 else "")
    return letters.upper()


def initials_svg(user_id: str, name: str) -> bytes:
    colour = COLOURS[int(hashlib.sha256(user_id.encode()).hexdigest(), 16) % len(COLOURS)]
    text = escape(initials(name))
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" width="64" height="64">'
        f'<rect width="64" height="64" rx="32" fill="{colour}"/>'
        '<text x="32" y="32" dy=".35em" text-anchor="middle" fill="#fff"'
        ' font-family="system-ui, sans-serif" font-size="26" font-weight="600">'
        f"{text}</text></svg>"
    ).encode()


def initials_etag(user_id: str, name: str) -> str:
    return "i" + hashlib.sha256(f"{user_id}\0{name}".encode()).hexdigest()[:24]
