"""Hand-built PNG files for hostile-input tests and benchmarks: any header, any chunks.

Built byte by byte (no Pillow), so a file can claim sizes and carry chunks no encoder would
write; shared by ``tests/cards`` and ``bench/hostile_uploads.py``.
"""

from __future__ import annotations

import struct
import zlib

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def chunk(cid: bytes, payload: bytes) -> bytes:
    """One PNG chunk, length and CRC included."""
    crc = zlib.crc32(cid + payload)
    return struct.pack(">I", len(payload)) + cid + payload + struct.pack(">I", crc)


def raw_png(width: int, height: int, *extra: bytes, idat: bytes | None = None) -> bytes:
    """An 8-bit greyscale PNG header claiming any size, with little or no real image data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    # One row at most: a bomb is refused from its header, long before the data would matter.
    data = zlib.compress(b"\0" * min(width + 1, 4096)) if idat is None else idat
    return (
        PNG_SIGNATURE
        + chunk(b"IHDR", ihdr)
        + b"".join(extra)
        + chunk(b"IDAT", data)
        + chunk(b"IEND", b"")
    )


def zlib_bomb(inflated_mib: int) -> bytes:
    """A valid zlib stream of ``inflated_mib`` MiB of zeros, about 1 KiB per MiB, built fast.

    After a full flush deflate starts afresh, so compressing the same block again gives the
    same bytes: compress one MiB twice, repeat the second block, close with an empty final
    block and the checksum of all the zeros.
    """
    zeros = bytes(1 << 20)
    compressor = zlib.compressobj(9)
    first = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    repeat = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    checksum = 1
    for _ in range(inflated_mib):
        checksum = zlib.adler32(zeros, checksum)
    final_empty_block = b"\x03\x00"
    return first + repeat * (inflated_mib - 1) + final_empty_block + struct.pack(">I", checksum)
