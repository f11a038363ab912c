"""Avatar images from strangers: only four formats, sizes checked from the header, bombs refused
politely, big JPEGs decoded at reduced scale, and a card's own image kept within bounds."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from bot.common.images import (
    AVATAR_SIZE,
    CARD_IMAGE_SIDE,
    MAX_CARD_IMAGE_BYTES,
    card_image_png,
    decode_bounded,
    normalize_avatar,
)
from bot.errors import InvalidInput


def encoded(img: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    img.save(out, format=fmt, **params)
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A few hundred bytes of PNG whose header claims ``width`` × ``height`` pixels."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (
            struct.pack(">I", len(payload))
            + kind
            + payload
            + struct.pack(">I", zlib.crc32(kind + payload))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 4096))
        + chunk(b"IEND", b"")
    )


def refused(data: bytes, fragment: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        normalize_avatar(data)
    assert fragment in caught.value.user_message, caught.value.user_message


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (
            b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n",
            "PNG, JPEG, GIF or WebP",
        ),
        (b"\xc5\xd0\xd3\xc6" + bytes(40), "PNG, JPEG, GIF or WebP"),  # DOS EPS binary header
        (encoded(Image.new("RGB", (8, 8)), "BMP"), "PNG, JPEG, GIF or WebP"),
        (encoded(Image.new("RGB", (8, 8)), "TIFF"), "PNG, JPEG, GIF or WebP"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "PNG, JPEG, GIF or WebP"),
    ],
    ids=["eps", "eps-binary", "bmp", "tiff", "svg"],
)
def test_only_png_jpeg_gif_and_webp_are_opened(data: bytes, fragment: str) -> None:
    refused(data, fragment)


@pytest.mark.parametrize(("width", "height"), [(6300, 6300), (4096, 4096), (1, 20_000_000)])
def test_a_png_claiming_too_many_pixels_is_refused_from_its_header(width: int, height: int) -> None:
    data = png_claiming(width, height)
    assert len(data) < 1000
    refused(data, "too large")


def test_a_png_past_pillows_own_limit_is_a_polite_refusal_too() -> None:
    refused(png_claiming(100_000, 100_000), "too large")


def test_a_png_disguised_as_a_jpeg_is_not_decoded_as_one() -> None:
    data = b"\xff\xd8\xff" + png_claiming(10, 10)
    with pytest.raises(InvalidInput):
        normalize_avatar(data)


def test_a_big_jpeg_photo_is_decoded_at_reduced_scale() -> None:
    photo = encoded(Image.new("RGB", (6000, 4000), "teal"), "JPEG", quality=50)
    img = decode_bounded(photo, AVATAR_SIZE)
    assert max(img.size) == AVATAR_SIZE
    with Image.open(io.BytesIO(photo)) as source:
        source.draft("RGB", (AVATAR_SIZE, AVATAR_SIZE))
        assert max(source.size) <= 1500  # what draft gives: 1/4 scale, not 24 MP
    out = normalize_avatar(photo)
    with Image.open(io.BytesIO(out)) as avatar:
        assert avatar.format == "PNG" and avatar.size == (512, 341)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP"])
def test_every_accepted_format_becomes_a_512_pixel_png(fmt: str) -> None:
    source = Image.new("RGB", (1024, 768), "orange")
    out = normalize_avatar(encoded(source, fmt))
    with Image.open(io.BytesIO(out)) as avatar:
        assert avatar.format == "PNG" and avatar.size == (512, 384)


def test_truncated_image_is_refused_as_damaged() -> None:
    data = encoded(Image.new("RGB", (300, 300), "red"), "PNG")
    refused(data[: len(data) // 2], "damaged or truncated")


def test_a_cards_own_image_is_kept_up_to_2048_pixels() -> None:
    small = Image.new("RGB", (1200, 1600), "navy")
    with Image.open(io.BytesIO(card_image_png(small))) as kept:
        assert kept.size == (1200, 1600)
    large = Image.new("RGB", (2048, 4096), "navy")
    with Image.open(io.BytesIO(card_image_png(large))) as kept:
        assert kept.size == (1024, 2048)


def test_a_noisy_card_image_is_scaled_down_until_it_fits_4_mib() -> None:
    noise = Image.effect_noise((CARD_IMAGE_SIDE, CARD_IMAGE_SIDE), 100).convert("RGB")
    assert len(encoded(noise, "PNG")) > MAX_CARD_IMAGE_BYTES
    kept = card_image_png(noise)
    assert len(kept) <= MAX_CARD_IMAGE_BYTES
    with Image.open(io.BytesIO(kept)) as img:
        assert max(img.size) < CARD_IMAGE_SIDE
