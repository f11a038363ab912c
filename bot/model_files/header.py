"""What a local model file is, read from its header before anything loads it.

A GGUF file names its architecture and context length in its metadata; a GGML file says only
that it is GGML. Reading this takes milliseconds, so start-up can refuse a file that is not a
model at all, and use the model's own context length when CONTEXT_LENGTH is not set, before
the minutes a real load takes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

GGUF_MAGIC = b"GGUF"
# ggml, ggmf and ggjt files start with these uint32 magics, written little-endian.
GGML_MAGICS = {b"lmgg": "ggml", b"fmgg": "ggmf", b"tjgg": "ggjt", b"algg": "ggla"}
MAX_METADATA_ENTRIES = 10_000  # a real file has a few dozen; a corrupt count must not spin
MAX_STRING_BYTES = 1 << 24
MAX_TENSORS = 1 << 20

# GGUF metadata value types (the GGUF specification, "gguf_metadata_value_type").
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q"}
_SCALARS |= {11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
_WANTED = frozenset({"general.architecture", "general.name", "general.alignment"})


@dataclass(frozen=True, slots=True)
class ModelFileInfo:
    """What the header says: ``container`` is gguf, ggml, ggmf or ggjt."""

    container: str
    architecture: str | None = None
    context_length: int | None = None
    name: str | None = None


class NotAModelFile(ValueError):
    """The file does not start like a GGUF or GGML model."""


def inspect_model_file(path: Path) -> ModelFileInfo:
    """Read the header of ``path``; raises NotAModelFile or OSError."""
    with path.open("rb") as handle:
        magic = handle.read(4)
        if magic in GGML_MAGICS:
            return ModelFileInfo(GGML_MAGICS[magic])
        if magic != GGUF_MAGIC:
            raise NotAModelFile(f"{path.name} is not a GGUF or GGML model file")
        try:
            return _read_gguf(handle)
        except (struct.error, UnicodeDecodeError, ValueError) as exc:
            raise NotAModelFile(f"{path.name} is a damaged GGUF file ({exc})") from None


def _read_gguf(handle: BinaryIO) -> ModelFileInfo:
    (version,) = _unpack(handle, "<I")
    if version < 2:
        # GGUF v1 used 32-bit counts; nothing current writes it. Its magic is enough to go on.
        return ModelFileInfo("gguf")
    tensors, entries = _unpack(handle, "<QQ")
    if entries > MAX_METADATA_ENTRIES:
        raise ValueError(f"{entries} metadata entries")
    found: dict[str, object] = {}
    for _ in range(entries):
        key = _read_string(handle)
        (value_type,) = _unpack(handle, "<I")
        value = _read_value(handle, value_type)
        if key in _WANTED or key.endswith(".context_length"):
            found[key] = value
    _check_complete(handle, tensors, found.get("general.alignment"))
    architecture = found.get("general.architecture")
    arch = architecture if isinstance(architecture, str) else None
    context = found.get(f"{arch}.context_length") if arch else None
    name = found.get("general.name")
    return ModelFileInfo(
        "gguf",
        architecture=arch,
        context_length=int(context) if isinstance(context, int) and context > 0 else None,
        name=name if isinstance(name, str) else None,
    )


def _check_complete(handle: BinaryIO, tensors: int, alignment: object) -> None:
    """A download cut short loads "fine" (the file is mapped, not read) and then generates
    from garbage: the last tensor must at least start inside the file."""
    if tensors > MAX_TENSORS:
        raise ValueError(f"{tensors} tensors")
    last_offset = 0
    for _ in range(tensors):
        _read_string(handle)  # name
        (dims,) = _unpack(handle, "<I")
        handle.seek(8 * dims + 4, 1)  # the dimensions, the type
        (offset,) = _unpack(handle, "<Q")
        last_offset = max(last_offset, offset)
    align = alignment if isinstance(alignment, int) and alignment > 0 else 32
    data_start = -(-handle.tell() // align) * align
    size = handle.seek(0, 2)
    if tensors and size <= data_start + last_offset:
        raise ValueError(f"the file is cut short at {size} bytes: download it again")


def _unpack(handle: BinaryIO, fmt: str) -> tuple[int, ...]:
    size = struct.calcsize(fmt)
    data = handle.read(size)
    if len(data) != size:
        raise ValueError("the file ends inside its header")
    return struct.unpack(fmt, data)


def _read_string(handle: BinaryIO) -> str:
    (length,) = _unpack(handle, "<Q")
    if length > MAX_STRING_BYTES:
        raise ValueError(f"a {length}-byte string")
    data = handle.read(length)
    if len(data) != length:
        raise ValueError("the file ends inside its header")
    return data.decode("utf-8")


def _read_value(handle: BinaryIO, value_type: int) -> object:
    if value_type in _SCALARS:
        return _unpack(handle, _SCALARS[value_type])[0]
    if value_type == _STRING:
        return _read_string(handle)
    if value_type == _ARRAY:
        (item_type,) = _unpack(handle, "<I")
        (count,) = _unpack(handle, "<Q")
        if item_type in _SCALARS:  # skip fixed-size items in one seek (token scores, types)
            handle.seek(struct.calcsize(_SCALARS[item_type]) * count, 1)
        else:
            for _ in range(count):
                _read_value(handle, item_type)
        return None
    raise ValueError(f"unknown metadata type {value_type}")
