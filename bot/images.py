"""Avatar images: whatever people upload becomes a small, clean PNG kept in the store.

Discord attachment links expire, so the image itself is stored; it is re-encoded (which drops
metadata and anything hidden in the file) and scaled down to what Discord shows.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, UnidentifiedImageError

from bot.errors import InvalidInput

MAX_AVATAR_BYTES = 8 * 1024 * 1024
MAX_AVATAR_PIXELS = 40_000_000  # far above any real avatar; refuses decompression bombs
AVATAR_SIZE = 512


def normalize_avatar(data: bytes, *, max_bytes: int = MAX_AVATAR_BYTES) -> bytes:
    """Return ``data`` as a PNG of at most 512×512, or raise InvalidInput saying why not.

    ``max_bytes``: a card's image was already checked by the card reader, and may be larger.
    """
    if len(data) > max_bytes:
        raise InvalidInput(
            f"That image is {len(data) / 1048576:.1f} MB; avatars can be at most 8 MB."
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.width * image.height > MAX_AVATAR_PIXELS:
                    raise InvalidInput("That image is far too large to be an avatar.")
                image.load()
                converted = image.convert("RGBA")
    except (UnidentifiedImageError, Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise InvalidInput(
            "That file is not an image Galatea can read (PNG, JPEG, GIF or WebP)."
        ) from None
    except (OSError, ValueError, SyntaxError):
        raise InvalidInput("That image file is damaged or truncated.") from None
    converted.thumbnail((AVATAR_SIZE, AVATAR_SIZE))
    out = io.BytesIO()
    converted.save(out, format="PNG", optimize=True)
    return out.getvalue()
