"""What a file really is, from its first bytes; the client's Content-Type is never believed.

Only the types a browser may show inline need to be certain (PNG, JPEG, GIF, WebP): a file is
one of them only when its signature says so. Text that looks like HTML or SVG is named as such,
so that it is always served as a download; other text is `text/plain`; the rest is
`application/octet-stream` unless a well-known signature names it.
"""

from __future__ import annotations

import re

SNIFF_BYTES = 4096
INLINE_IMAGES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b", "application/gzip"),
    (b"ID3", "audio/mpeg"),
    (b"OggS", "audio/ogg"),
    (b"fLaC", "audio/flac"),
    (b"\x1a\x45\xdf\xa3", "video/webm"),
    (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
)
_HTML = re.compile(
    rb"<(!doctype\s+html|html|head|body|script|iframe|style|title|meta|a\s|div|p[\s>]|table|"
    rb"img|object|embed|form|!--)",
    re.IGNORECASE,
)
_SVG = re.compile(rb"<svg[\s>]", re.IGNORECASE)


def sniff(head: bytes) -> str:
    """The content type of a file that starts with `head` (its first SNIFF_BYTES or fewer)."""
    for signature, content_type in _SIGNATURES:
        if head.startswith(signature):
            return content_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"avif", b"avis"):
            return "image/avif"
        if brand.startswith(b"M4A"):
            return "audio/mp4"
        return "video/mp4"
    text = _as_text(head)
    if text is None:
        return "application/octet-stream"
    if _SVG.search(head):
        return "image/svg+xml"
    if _HTML.search(head.lstrip()[:1024]) or head.lstrip().startswith(b"<?xml"):
        # Markup of any kind is HTML to a browser that guesses: name it so, never inline.
        return "application/xml" if head.lstrip().startswith(b"<?xml") else "text/html"
    return "text/plain" if head else "application/octet-stream"


def _as_text(head: bytes) -> str | None:
    """`head` as UTF-8 text (a character cut at the end is fine), or None for binary data."""
    if b"\x00" in head:
        return None
    for cut in range(4):
        try:
            text = head[: len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        controls = sum(1 for c in text if ord(c) < 32 and c not in "\t\n\r\f")
        return None if controls > len(text) // 100 else text
    return None


def is_inline_image(content_type: str) -> bool:
    return content_type in INLINE_IMAGES
