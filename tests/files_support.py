"""Files built to test uploads: real images made with Pillow, and hostile ones."""

from __future__ import annotations

import io
import random
import struct
import zlib

from PIL import Image


def png(width: int = 1600, height: int = 1200, color: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG")
    return out.getvalue()


def rotated_jpeg(width: int = 1000, height: int = 500) -> bytes:
    """A JPEG stored landscape with EXIF orientation 6: displayed portrait."""
    image = Image.new("RGB", (width, height), "blue")
    exif = image.getexif()
    exif[0x0112] = 6
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares `width` x `height` pixels with almost no data behind it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<script>alert(1)</script><rect width='10' height='10'/></svg>"
)


def noisy_png(width: int = 300, height: int = 200) -> bytes:
    """A PNG whose pixel data does not compress away (so that cutting it loses pixels)."""
    out = io.BytesIO()
    Image.frombytes("RGB", (width, height), random.Random(7).randbytes(width * height * 3)).save(
        out, "PNG"
    )
    return out.getvalue()


def noisy_jpeg(width: int = 300, height: int = 200) -> bytes:
    out = io.BytesIO()
    Image.frombytes("RGB", (width, height), random.Random(8).randbytes(width * height * 3)).save(
        out, "JPEG", quality=90
    )
    return out.getvalue()


def truncated(data: bytes) -> bytes:
    """The first half of a file: a valid header, half the pixels, no end."""
    return data[: len(data) // 2]
