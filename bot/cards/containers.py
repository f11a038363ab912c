"""Cards in containers other than PNG: WebP (TavernAI 1.x, in EXIF) and CHARX (the V3 zip).

WebP: TavernAI 1.x writes the card JSON into the image's EXIF ``UserComment`` (in IFD0, where
its image library puts it, or in the Exif IFD, where the EXIF standard does), sometimes behind
the 8-byte character-code prefix the standard defines (``ASCII``, ``UNICODE``).

CHARX (Character Card V3 spec, "Embedding Methods / CHARX"): a zip with ``card.json`` at its
root and assets under ``assets/``; RisuAI also writes it after a JPEG (the JPEG is the preview,
the zip follows it), which ``zipfile`` reads as is, since it finds the zip from the end. The
zip is bounded before anything is inflated: entry count and total uncompressed size from the
central directory, no absolute or ``..`` paths, no encryption; then every read is capped
again while inflating (``ZipExtFile.read(n)`` inflates at most ``n`` bytes), since the sizes
in the directory are only what the file claims.
"""

from __future__ import annotations

import io
import posixpath
import struct
import zipfile
import zlib
from dataclasses import dataclass

from PIL import Image

from bot.cards import limits
from bot.cards.json_text import decode_json
from bot.common.images import CARD_IMAGE_SIDE, card_image_png, decode_bounded, sniff_format
from bot.errors import InvalidInput

USER_COMMENT = 0x9286
EXIF_IFD = 0x8769
_CHARSET_PREFIXES = {
    b"ASCII\0\0\0": "ascii",
    b"UNICODE\0": "utf-16",
    b"\0\0\0\0\0\0\0\0": "utf-8",  # "undefined": in practice UTF-8
}
_MAX_ZIP_ENTRIES = 1_000
_MAX_ZIP_TOTAL = 256 * limits.MIB
"""All entries of a CHARX together, uncompressed, as its central directory claims."""
_MAX_ICON_BYTES = limits.DEFAULT_MAX_BYTES
_BROKEN = (OSError, SyntaxError, EOFError, ValueError, IndexError, struct.error, KeyError)


@dataclass(frozen=True, slots=True)
class ContainedCard:
    """The card's bytes as found in the container, and its image as a clean PNG (or None)."""

    raw: bytes
    """JSON, or base64 of JSON (WebP writers differ)."""
    image_png: bytes | None
    document: object = None
    """The decoded JSON, where reading the container already needed it (CHARX)."""


def read_webp(data: bytes) -> ContainedCard:
    """The card in a WebP image's EXIF UserComment, and the image itself."""
    damaged = (
        "That file looks like a WebP image but is damaged or truncated, so no character card "
        "can be read from it."
    )
    try:
        with Image.open(io.BytesIO(data), formats=["WEBP"]) as img:
            exif = img.getexif()
            comment = exif.get(USER_COMMENT) or exif.get_ifd(EXIF_IFD).get(USER_COMMENT)
    except Image.DecompressionBombError:
        raise InvalidInput(
            "That WebP image is far too large to be a character card (it could be a "
            "decompression bomb)."
        ) from None
    except _BROKEN:
        raise InvalidInput(damaged) from None
    raw = _user_comment_bytes(comment)
    if not raw:
        raise InvalidInput(
            "That WebP image has no character card in it (no card in its EXIF UserComment). "
            "Export the card as PNG or JSON and try again."
        )
    image = decode_bounded(data, CARD_IMAGE_SIDE, what="a character card image")
    return ContainedCard(raw=raw, image_png=card_image_png(image))


def _user_comment_bytes(value: object) -> bytes:
    """The UserComment's text as UTF-8 bytes, its character-code prefix removed."""
    if isinstance(value, str):
        return value.strip("\0 ").encode("utf-8", "surrogatepass")
    if not isinstance(value, bytes):
        return b""
    encoding = _CHARSET_PREFIXES.get(value[:8])
    if encoding is None:
        return value.strip(b"\0 ")
    body = value[8:]
    if encoding == "utf-16":
        # The standard leaves the byte order to the TIFF header; a BOM or the JSON's first
        # character (an ASCII "{" or base64 letter) tells it.
        if not body.startswith((b"\xff\xfe", b"\xfe\xff")):
            encoding = "utf-16-le" if body[1:2] == b"\0" else "utf-16-be"
        try:
            return body.decode(encoding).strip("\0 ").encode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            return b""
    return body.strip(b"\0 ")


def looks_like_zip(data: bytes) -> bool:
    """A zip (CHARX), or a JPEG with a zip after it (RisuAI's CHARX-JPEG)."""
    if data.startswith(b"PK\x03\x04"):
        return True
    return sniff_format(data) == "JPEG" and zipfile.is_zipfile(io.BytesIO(data))


def read_charx(data: bytes) -> ContainedCard:
    """``card.json`` of a CHARX (zip, or JPEG followed by a zip) and its main icon."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
        raise InvalidInput(
            "That CHARX (zip) file is damaged or not a zip archive, so no character card can "
            "be read from it."
        ) from None
    with archive:
        entries = _checked_entries(archive)
        card_entry = entries.get("card.json")
        if card_entry is None:
            raise InvalidInput(
                "That zip archive has no card.json at its root, so it is not a CHARX "
                "character card."
            )
        raw = _read_capped(archive, card_entry, limits.MAX_CARD_JSON_BYTES, "card.json")
        document = decode_json(raw)
        image = _icon(archive, entries, document)
    if image is None and sniff_format(data) == "JPEG":
        image = data  # the CHARX-JPEG's own picture
    png = None
    if image is not None:
        png = card_image_png(decode_bounded(image, CARD_IMAGE_SIDE, what="a character card image"))
    return ContainedCard(raw=raw, image_png=png, document=document)


def _checked_entries(archive: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    infos = archive.infolist()
    if len(infos) > _MAX_ZIP_ENTRIES:
        raise InvalidInput(
            f"That CHARX file holds too many files: {len(infos):,} (the limit is "
            f"{_MAX_ZIP_ENTRIES:,})."
        )
    total = sum(info.file_size for info in infos)
    if total > _MAX_ZIP_TOTAL:
        raise InvalidInput(
            f"That CHARX file unpacks to {total / limits.MIB:,.0f} MiB (the limit is "
            f"{_MAX_ZIP_TOTAL // limits.MIB} MiB)."
        )
    entries: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        name = info.filename
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
            raise InvalidInput("That CHARX file holds a file with an unsafe path; it is refused.")
        if info.flag_bits & 0x1:
            raise InvalidInput("That CHARX file is encrypted; Galatea can't read it.")
        entries[name] = info
    return entries


def _read_capped(archive: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int, label: str) -> bytes:
    too_large = (
        f"The {label} in that CHARX file is too large (the limit is {cap / limits.MIB:g} MiB)."
    )
    if info.file_size > cap:
        raise InvalidInput(too_large)
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        # zipfile bounds only deflate by the size asked for; bzip2 and LZMA would inflate a
        # whole read at once. CHARX writers use deflate.
        raise InvalidInput(
            f"The {label} in that CHARX file is compressed in a way Galatea can't read "
            "(only stored or deflated files are)."
        )
    try:
        with archive.open(info) as member:
            data = member.read(cap + 1)  # inflates at most cap + 1 bytes, whatever it claims
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, zlib.error):
        raise InvalidInput(
            f"The {label} in that CHARX file is damaged or compressed in a way Galatea can't read."
        ) from None
    if len(data) > cap:
        raise InvalidInput(too_large)
    return data


def _icon(
    archive: zipfile.ZipFile, entries: dict[str, zipfile.ZipInfo], document: object
) -> bytes | None:
    """The main icon named by the card's assets (``embeded://...``), else the first icon image
    under ``assets/icon/``; None when there is none."""
    path = _main_icon_path(document)
    if path is None or path not in entries:
        path = next(
            (
                name
                for name in sorted(entries)
                if name.startswith("assets/icon/")
                and posixpath.splitext(name)[1].lower()
                in (".png", ".jpg", ".jpeg", ".webp", ".gif")
            ),
            None,
        )
    if path is None:
        return None
    return _read_capped(archive, entries[path], _MAX_ICON_BYTES, "icon image")


def _main_icon_path(document: object) -> str | None:
    """The zip path of the icon asset named "main" (or the first icon) in card.json."""
    data = document.get("data") if isinstance(document, dict) else None
    assets = data.get("assets") if isinstance(data, dict) else None
    if not isinstance(assets, list):
        return None
    icons = [
        a
        for a in assets
        if isinstance(a, dict) and a.get("type") == "icon" and isinstance(a.get("uri"), str)
    ]
    icons.sort(key=lambda a: a.get("name") != "main")
    for icon in icons:
        uri: str = icon["uri"]  # a str: checked above
        if uri.startswith("embeded://"):
            return uri.removeprefix("embeded://")
    return None
