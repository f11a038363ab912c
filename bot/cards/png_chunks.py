"""Card text chunks out of PNG images and into them, through Pillow's PNG plugin only.

Reading checks the image header against ``MAX_IMAGE_PIXELS`` before any pixel is decoded,
verifies every chunk's CRC (``Image.verify``), then decodes the first frame and collects the
tEXt / zTXt / iTXt chunks wherever they sit (SillyTavern puts its chunks after the image data,
just before IEND). Pillow bounds how far one zTXt / iTXt chunk may inflate with
``PngImagePlugin.MAX_TEXT_CHUNK`` and all text with ``MAX_TEXT_MEMORY``; those are
process-wide settings, set here to the card limits when this module is imported.

Pillow's ``_safe_zlib_decompress`` inflates each text chunk through ``zlib.decompressobj``
with ``max_length``, so a zTXt bomb stops after ``MAX_TEXT_CHUNK`` bytes, not at its end.
``Image.MAX_IMAGE_PIXELS`` is set by ``bot.common.images``; our own pixel limit is checked
first, and Pillow's DecompressionBombError, should it fire, becomes InvalidInput like every
other failure.
"""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, PngImagePlugin

from bot.cards import limits
from bot.common.images import CARD_IMAGE_SIDE, card_image_png, decode_bounded
from bot.errors import InvalidInput

# Pillow's defaults (1 MiB per compressed text chunk) would refuse big lorebooks stored in
# zTXt; these keep room for the largest card we accept and still stop a zTXt bomb early.
PngImagePlugin.MAX_TEXT_CHUNK = limits.PNG_MAX_TEXT_CHUNK
PngImagePlugin.MAX_TEXT_MEMORY = limits.PNG_MAX_TEXT_MEMORY

CARD_KEYWORDS = ("ccv3", "chara")
"""Text-chunk keywords holding a card, most preferred first (V3 wins over V2)."""

_PLACEHOLDER_SIZE = (400, 600)  # SillyTavern's avatar proportions

# What Pillow raises for a broken or truncated file; ValueError (text limits) is separate.
# IndexError: Pillow 13's verify() indexes an empty tile list when a (mutated) APNG has no
# usable image data, and its APNG frame handling can do the same.
_BROKEN = (OSError, SyntaxError, EOFError, struct.error, zlib.error, IndexError)

DAMAGED_PNG = "That PNG image is truncated or damaged, so its character card can't be read."


@dataclass(frozen=True, slots=True)
class PngCard:
    """What a card PNG holds for us: the card chunks' raw values and the clean image."""

    chunks: dict[str, bytes]
    """Keyword (lower-cased, only ``CARD_KEYWORDS``) to the chunk's value as bytes."""

    avatar_png: bytes
    """The first frame re-encoded as a PNG without any text chunks, at most 2048 px a side."""


def read_png(data: bytes) -> PngCard:
    """Read the card chunks and a clean avatar from PNG bytes; InvalidInput on any problem."""
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as img:
            _check_dimensions(img)
            img.verify()  # CRCs and chunk structure up to IEND, before decoding anything
        with Image.open(io.BytesIO(data), formats=["PNG"]) as img:
            img.load()
            # The card's own image, bounded (2048 px, ~4 MiB), for export; Discord's thumbnail
            # is made from it later.
            avatar = card_image_png(img)
            if getattr(img, "is_animated", False):
                # Chunks after the last frame are read only once that frame is decoded.
                img.seek(getattr(img, "n_frames", 1) - 1)
                img.load()
            # PngImageFile.text: the tEXt / zTXt / iTXt chunks (an attribute of PNG files only).
            text = dict(getattr(img, "text", {}))
    except Image.DecompressionBombError:
        raise InvalidInput(
            "That image is far too large to be a character card (it could be a decompression bomb)."
        ) from None
    except ValueError as e:
        if "text" in str(e).lower():  # MAX_TEXT_CHUNK / MAX_TEXT_MEMORY
            raise InvalidInput(
                "That PNG's embedded text is too large (it could be a decompression bomb)."
            ) from None
        raise InvalidInput(DAMAGED_PNG) from None
    except _BROKEN:
        raise InvalidInput(DAMAGED_PNG) from None
    return PngCard(chunks=_card_chunks(text), avatar_png=avatar)


def _card_chunks(text: dict[str, str]) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    # Exact lower-case keywords first, so "chara" beats a stray "Chara" in the same file.
    for keyword in sorted(text, key=lambda k: k != k.lower()):
        key = keyword.lower()
        if key in CARD_KEYWORDS and key not in found:
            value = text[keyword]
            # iTXt values are real Unicode; tEXt / zTXt were decoded as Latin-1 by Pillow,
            # so encoding back to Latin-1 restores the exact bytes.
            is_itxt = isinstance(value, PngImagePlugin.iTXt)
            found[key] = value.encode("utf-8" if is_itxt else "latin-1")
    return found


def _check_dimensions(img: Image.Image) -> None:
    width, height = img.size
    if width * height > limits.MAX_IMAGE_PIXELS:
        raise InvalidInput(
            f"That image is too large: {width:,}×{height:,} pixels (a character card image may "
            f"have at most {limits.MAX_IMAGE_PIXELS:,} pixels)."
        )
    frames = getattr(img, "n_frames", 1)
    if frames > limits.MAX_ANIMATION_FRAMES or frames * width * height > (
        limits.MAX_ANIMATION_PIXELS
    ):
        raise InvalidInput(
            f"That animated image is too large: {frames:,} frames of {width:,}×{height:,} pixels."
        )


def open_avatar(data: bytes) -> Image.Image:
    """Decode a card's image (PNG, JPEG, WebP or GIF; first frame; at most 2048 px a side)
    ready to be written as PNG."""
    try:
        return decode_bounded(data, CARD_IMAGE_SIDE, what="a character card image")
    except InvalidInput:
        raise InvalidInput(
            "The character's avatar image could not be read (it must be a PNG, JPEG, WebP or "
            "GIF image)."
        ) from None


def placeholder_image(seed: str) -> Image.Image:
    """A plain, single-colour portrait for a card without an avatar; the colour follows ``seed``."""
    digest = hashlib.sha256(seed.encode("utf-8", "surrogatepass")).digest()
    # Muted colours: each channel between 64 and 191, so the placeholder is never garish.
    colour = tuple(64 + b % 128 for b in digest[:3])
    return Image.new("RGB", _PLACEHOLDER_SIZE, colour)


def encode_png(img: Image.Image, text_chunks: Sequence[tuple[str, str]] = ()) -> bytes:
    """``img`` as PNG bytes with the given tEXt chunks (values must be Latin-1, e.g. base64)."""
    info = PngImagePlugin.PngInfo()
    for keyword, value in text_chunks:
        info.add_text(keyword, value)
    buffer = io.BytesIO()
    img.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()
