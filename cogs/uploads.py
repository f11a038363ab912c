"""Files within what Discord takes: each upload at most the interaction's
``attachment_size_limit`` (Reference > Uploading Files: 10 MiB by default, more on boosted
servers; over it Discord answers 413, error 40005), at most 10 files a message.

A file over the limit is compressed (gzip: exports are text and shrink several times); one
that is still too large is cut into numbered parts at line ends, to be joined in order.
"""

from __future__ import annotations

import asyncio
import gzip
import io
from dataclasses import dataclass

import discord

FILES_PER_MESSAGE = 10  # Resources > Message > Create Message: files[n], up to 10
MAX_PARTS = 30  # bounded: three messages of parts at most; past that the member is told
_MIB = 1024 * 1024


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes


class TooLargeToUpload(Exception):
    """Even compressed and cut into ``MAX_PARTS`` parts, the files do not fit."""


def mib(size: int) -> str:
    return f"{size / _MIB:.1f} MiB"


def fit_uploads(files: list[Upload], limit: int) -> tuple[list[Upload], bool]:
    """The files as Discord takes them, and whether any had to be compressed or cut."""
    fitted: list[Upload] = []
    changed = False
    for file in files:
        if len(file.data) <= limit:
            fitted.append(file)
            continue
        changed = True
        packed = gzip.compress(file.data, compresslevel=6, mtime=0)
        if len(packed) <= limit:
            fitted.append(Upload(file.filename + ".gz", packed))
        else:
            fitted.extend(_parts(file, limit))
        if len(fitted) > MAX_PARTS:
            raise TooLargeToUpload
    return fitted, changed


def _parts(file: Upload, limit: int) -> list[Upload]:
    """``file`` cut at line ends (mid-line only for a line longer than ``limit``)."""
    pieces: list[bytes] = []
    rest = file.data
    while rest:
        if len(pieces) >= MAX_PARTS:
            raise TooLargeToUpload
        if len(rest) <= limit:
            pieces.append(rest)
            break
        cut = rest.rfind(b"\n", 0, limit) + 1 or limit
        pieces.append(rest[:cut])
        rest = rest[cut:]
    stem, dot, ext = file.filename.rpartition(".")
    stem, ext = (stem, f".{ext}") if dot else (file.filename, "")
    return [
        Upload(f"{stem}.part{i}of{len(pieces)}{ext}", piece) for i, piece in enumerate(pieces, 1)
    ]


async def fit_uploads_off_loop(files: list[Upload], limit: int) -> tuple[list[Upload], bool]:
    """:func:`fit_uploads` in a thread: compressing megabytes would hold up the event loop."""
    if all(len(f.data) <= limit for f in files):
        return files, False
    return await asyncio.to_thread(fit_uploads, files, limit)


def batches(files: list[Upload]) -> list[list[discord.File]]:
    """discord.py files, ten a message."""
    made = [discord.File(io.BytesIO(f.data), filename=f.filename) for f in files]
    return [made[i : i + FILES_PER_MESSAGE] for i in range(0, len(made), FILES_PER_MESSAGE)]
