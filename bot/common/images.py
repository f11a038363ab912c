"""Avatar and card images: whatever people upload becomes a small, clean PNG kept in the store.

Discord attachment links expire, so the image itself is stored; it is re-encoded (which drops
metadata and anything hidden in the file) and scaled down to what Discord shows.

Every image here comes from a stranger, so decoding is bounded before any pixel is read:
only PNG, JPEG, GIF and WebP are opened (recognised by their first bytes, and Pillow is told
the same, so no other decoder, Ghostscript for EPS above all, is ever reached); the size is
checked from the header against ``MAX_IMAGE_PIXELS``; a JPEG is decoded at a reduced scale
(``Image.draft``); only the first frame of an animation is decoded; and the image is shrunk
before any mode conversion, so a conversion copies the small image, not the large one.
"""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

from bot.errors import InvalidInput

MAX_AVATAR_BYTES = 8 * 1024 * 1024
MAX_IMAGE_PIXELS = 2048 * 4096
"""Width × height of a PNG, GIF or WebP avatar or card image, decoded whole: 32 MiB as RGBA,
and Pillow's WebP and GIF readers hold a few copies of it. Cards are 400×600 to 2048×3072."""
MAX_JPEG_PIXELS = 8192 * 8192
"""A JPEG is decoded at 1/2 to 1/8 scale (``Image.draft``), so a phone photo (12-50 MP) is
fine: at most 2048² pixels are ever decoded for a card, 1024² for an avatar."""
AVATAR_SIZE = 512
CARD_IMAGE_SIDE = 2048
"""The longest side of a card's own image, kept for export."""
MAX_CARD_IMAGE_BYTES = 4 * 1024 * 1024
"""A card's own image, re-encoded as PNG; a larger one is scaled down until it fits."""

# Pillow's own bomb check, lowered from its 89-million-pixel default to our largest limit: it
# warns past this (an image we then refuse) and raises past twice this. Our per-format header
# check is stricter and comes next; this one also guards any other Image.open in the process.
# (No warnings.catch_warnings around decoding: it changes process-wide state, and decoding
# runs in worker threads.)
Image.MAX_IMAGE_PIXELS = MAX_JPEG_PIXELS

NOT_AN_IMAGE = "That file is not an image Galatea can read (PNG, JPEG, GIF or WebP)."
DAMAGED = "That image file is damaged or truncated."
# Modes Pillow writes as PNG without conversion.
_PNG_MODES = frozenset({"1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"})
# What a clean image keeps from the source: how it looks, nothing else.
_KEPT_INFO = ("transparency", "icc_profile")


def sniff_format(data: bytes) -> str | None:
    """The accepted format ``data`` starts like (Pillow's format name), or None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def check_dimensions(width: int, height: int, *, what: str = "an avatar", fmt: str = "PNG") -> None:
    """Refuse an image whose header claims more pixels than its format may have."""
    limit = MAX_JPEG_PIXELS if fmt == "JPEG" else MAX_IMAGE_PIXELS
    if width * height > limit:
        raise InvalidInput(
            f"That image is too large: {width:,}×{height:,} pixels (the limit for {what} is "
            f"{limit:,} pixels)."
        )


def decode_bounded(data: bytes, max_side: int, *, what: str = "an avatar") -> Image.Image:
    """The first frame of ``data``, at most ``max_side`` pixels on its longest side.

    Raises InvalidInput (never a Pillow error) for anything but a readable PNG, JPEG, GIF or
    WebP image within ``MAX_IMAGE_PIXELS``.
    """
    fmt = sniff_format(data)
    if fmt is None:
        raise InvalidInput(NOT_AN_IMAGE)
    try:
        with Image.open(io.BytesIO(data), formats=[fmt]) as img:
            check_dimensions(*img.size, what=what, fmt=fmt)
            if fmt == "JPEG":  # decode at 1/2, 1/4 or 1/8 scale when that is enough
                img.draft("RGB", (max_side, max_side))
            img.load()
            return shrunk(img, max_side)
    except Image.DecompressionBombError:
        raise InvalidInput(
            f"That image is far too large to be {what} (it could be a decompression bomb)."
        ) from None
    except (OSError, ValueError, SyntaxError, EOFError, IndexError):
        raise InvalidInput(DAMAGED) from None


def shrunk(img: Image.Image, max_side: int) -> Image.Image:
    """A detached, PNG-ready copy of the loaded frame ``img``, scaled to fit ``max_side``.

    Only the copy is allocated (the scaled one when scaling), and a mode conversion happens on
    the small image; the copy keeps only the metadata that affects how it looks.
    """
    info: dict[str | tuple[int, int], Any] = {
        key: img.info[key] for key in _KEPT_INFO if key in img.info
    }
    width, height = img.size
    if max(width, height) > max_side:
        scale = max_side / max(width, height)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        source = img if img.mode in ("RGB", "RGBA", "L", "LA") else img.convert("RGBA")
        frame = source.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    else:
        frame = img.copy()
    frame.info = info
    if frame.mode not in _PNG_MODES:
        has_alpha = "A" in frame.getbands() or "transparency" in frame.info
        frame = frame.convert("RGBA" if has_alpha else "RGB")
        frame.info = {}  # a CMYK / LAB colour profile would be wrong for the converted pixels
    return frame


def png_bytes(img: Image.Image, *, optimize: bool = False) -> bytes:
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=optimize)
    return out.getvalue()


def normalize_avatar(data: bytes, *, max_bytes: int = MAX_AVATAR_BYTES) -> bytes:
    """Return ``data`` as a PNG of at most 512×512, or raise InvalidInput saying why not.

    ``max_bytes``: a card's image was already checked by the card reader, and may be larger.
    """
    if len(data) > max_bytes:
        raise InvalidInput(
            f"That image is {len(data) / 1048576:.1f} MB; avatars can be at most "
            f"{max_bytes / 1048576:g} MB."
        )
    img = decode_bounded(data, AVATAR_SIZE)
    if img.mode not in ("RGB", "RGBA"):
        img = img.convert("RGBA")
    return png_bytes(img, optimize=True)


def card_image_png(img: Image.Image) -> bytes:
    """A card's own image for export: PNG, at most 2048 px a side and about 4 MiB.

    A noisy image that is still larger is halved until it fits (at most twice).
    """
    frame = shrunk(img, CARD_IMAGE_SIDE)  # also detaches it from the source's metadata
    encoded = png_bytes(frame)
    for _ in range(2):
        if len(encoded) <= MAX_CARD_IMAGE_BYTES:
            break
        frame = shrunk(frame, max(frame.size) // 2)
        encoded = png_bytes(frame)
    return encoded
