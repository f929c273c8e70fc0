"""Image thumbnails with Pillow (PROTOCOL.md 9.4), run by a background job on a thread.

Hostile images must not hurt: only PNG, JPEG, GIF and WebP are decoded (by their signature,
never by name); the pixel count in the header is checked before any decoding (a
decompression bomb declares billions of pixels in a few bytes); truncated or corrupt data
raises `ImageRejected`. EXIF orientation is applied, so width/height are as displayed.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import BinaryIO

from PIL import Image, ImageOps, UnidentifiedImageError

THUMBNAIL_MAX = 800
THUMBNAIL_TYPE = "image/webp"
FORMATS = ["PNG", "JPEG", "GIF", "WEBP"]
# EXIF orientations that turn the picture a quarter (so width and height swap).
_TRANSPOSED = {5, 6, 7, 8}
# What Pillow raises for data it cannot or will not decode.
_FAILURES = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    UnidentifiedImageError,
    Image.DecompressionBombError,
    Image.DecompressionBombWarning,
    MemoryError,
)


class ImageRejected(Exception):
    """Not an image we decode: corrupt, truncated, too large, or of another format."""


@dataclass(frozen=True)
class Thumbnail:
    width: int  # of the original, as displayed
    height: int
    data: bytes


def make_thumbnail(source: BinaryIO, max_pixels: int) -> Thumbnail:
    """Blocking: run it on a thread."""
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb check only warns below twice its limit: make it refuse.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return _make(source, max_pixels)
    except _FAILURES as exc:
        raise ImageRejected(f"{type(exc).__name__}: {exc}") from None


def _make(source: BinaryIO, max_pixels: int) -> Thumbnail:
    with Image.open(source, formats=FORMATS) as image:
        width, height = image.size
        if width < 1 or height < 1 or width * height > max_pixels:
            raise ImageRejected(f"{width}x{height} is more than {max_pixels} pixels")
        orientation = image.getexif().get(0x0112)
        # JPEG can decode at a fraction of its size: far less memory for a large photo.
        image.draft("RGB", (THUMBNAIL_MAX * 2, THUMBNAIL_MAX * 2))
        image.load()
        upright = ImageOps.exif_transpose(image)
        if orientation in _TRANSPOSED:
            width, height = height, width
        upright.thumbnail((THUMBNAIL_MAX, THUMBNAIL_MAX))
        # WebP keeps transparency and is small; every current browser shows it.
        mode = "RGBA" if "A" in upright.getbands() or "transparency" in upright.info else "RGB"
        out = io.BytesIO()
        upright.convert(mode).save(out, "WEBP", quality=82, method=4)
        return Thumbnail(width, height, out.getvalue())
