"""World info files in and out: SillyTavern's world JSON and chub's lorebook JSON.

SillyTavern keeps a world as ``{"entries": {"<uid>": {...}}}`` with its own field names
(``key``, ``keysecondary``, ``comment``, ``order``, ``disable``, ``position`` as a number...).
Its own conversion to a card's ``character_book`` (``convertWorldInfoToCharacterBook`` in
src/endpoints/characters.js) and back (``convertCharacterBook`` in
public/scripts/world-info.js) decide the mapping used here, so a world goes through Galatea
and back to SillyTavern with every field it documents (``newWorldInfoEntryDefinition``);
fields SillyTavern adds later ride along in the entry's ``extensions`` under their own names.
A chub lorebook (and a V3 ``lorebook_v3`` file) is a ``character_book`` and reads as one.

Files come from strangers: the size is checked before reading, the entry and key counts
before any entry is built, with the card limits of ``bot.cards.limits``.
"""

from __future__ import annotations

import codecs
import json
from typing import Any

from pydantic import JsonValue, ValidationError

from bot.cards import LoreBook, LoreEntry, limits
from bot.cards.entry_ids import fill_ids
from bot.cards.json_text import count_containers, encode_json
from bot.cards.model import json_depth
from bot.cards.schema import WireBook, WireEntry, extra_of
from bot.errors import InvalidInput
from bot.lore.rules import DEFAULT_SCAN_DEPTH

WORLD_FILE_MAX_BYTES = 10 * limits.MIB  # Discord's attachment_size_limit for a bot's answer
# An entry is an object with a few lists (keys, secondary keys) and objects (extensions).
MAX_WORLD_CONTAINERS = 50 * limits.MAX_LORE_ENTRIES
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)

# SillyTavern's entry fields that a card entry keeps in ``extensions`` (characters.js).
ST_EXTENSIONS = {
    "position": "position",
    "excludeRecursion": "exclude_recursion",
    "displayIndex": "display_index",
    "probability": "probability",
    "useProbability": "useProbability",
    "depth": "depth",
    "selectiveLogic": "selectiveLogic",
    "group": "group",
    "groupOverride": "group_override",
    "groupWeight": "group_weight",
    "preventRecursion": "prevent_recursion",
    "delayUntilRecursion": "delay_until_recursion",
    "scanDepth": "scan_depth",
    "matchWholeWords": "match_whole_words",
    "useGroupScoring": "use_group_scoring",
    "caseSensitive": "case_sensitive",
    "automationId": "automation_id",
    "role": "role",
    "vectorized": "vectorized",
    "sticky": "sticky",
    "cooldown": "cooldown",
    "delay": "delay",
}
# SillyTavern's defaults for a new entry (newWorldInfoEntryDefinition), written when unset.
ST_DEFAULTS: dict[str, JsonValue] = {
    "vectorized": False,
    "selectiveLogic": 0,
    "excludeRecursion": False,
    "preventRecursion": False,
    "delayUntilRecursion": False,
    "probability": 100,
    "useProbability": True,
    "depth": DEFAULT_SCAN_DEPTH,
    "group": "",
    "groupOverride": False,
    "groupWeight": 100,
    "scanDepth": None,
    "caseSensitive": None,
    "matchWholeWords": None,
    "useGroupScoring": None,
    "automationId": "",
    "role": 0,
    "sticky": None,
    "cooldown": None,
    "delay": None,
}
_ST_MAIN = {"uid", "key", "keysecondary", "comment", "content", "constant", "selective"}
_ST_MAIN |= {"order", "disable", "addMemo"}
_ST_KNOWN = ST_EXTENSIONS.keys() | _ST_MAIN
_ST_MARKERS = ("key", "keysecondary", "uid", "disable", "order")


def parse_world_file(data: bytes) -> LoreBook:
    """A SillyTavern world info file or a chub / V3 lorebook file, as a book; InvalidInput
    (a sentence for the user) for anything else."""
    if len(data) > WORLD_FILE_MAX_BYTES:
        raise InvalidInput(
            f"That file is {len(data) / limits.MIB:.1f} MiB; world files can be at most "
            f"{WORLD_FILE_MAX_BYTES // limits.MIB} MiB."
        )
    document = _decode(data)
    if not isinstance(document, dict):
        raise InvalidInput("That file is not a world info file: it holds no object of entries.")
    spec = document.get("spec")
    if isinstance(spec, str) and spec.startswith("chara_card"):
        raise InvalidInput("That is a character card: import it with `/character import`.")
    if isinstance(document.get("data"), dict) and "entries" not in document:
        document = document["data"]  # a lorebook_v3 file, or chub's wrapped export
    raw = document.get("entries")
    if isinstance(raw, dict):
        items = list(raw.values())
    elif isinstance(raw, list):
        items = raw
    else:
        raise InvalidInput("That file is not a world info file: it has no `entries`.")
    _check_counts(items)
    entries = [_entry(item, index) for index, item in enumerate(items)]
    fields = {k: v for k, v in document.items() if k in WireBook.model_fields and k != "entries"}
    try:
        wire = WireBook.model_validate({**fields, "entries": []})
        book = LoreBook(
            name=wire.name,
            description=wire.description,
            scan_depth=wire.scan_depth,
            token_budget=wire.token_budget,
            recursive_scanning=wire.recursive_scanning,
            extensions=wire.extensions,
            entries=tuple(entries),
        )
    except ValidationError as exc:
        raise InvalidInput(f"That world file's settings are not valid: {_first(exc)}.") from None
    _check_texts(book)
    return book


def world_info_document(book: LoreBook) -> dict[str, JsonValue]:
    """The book as a SillyTavern world info file: ``{"entries": {"<uid>": {...}}}``."""
    # SillyTavern's uids are whole numbers: a text id (RisuAI's) gets a fresh one.
    numeric = [e.id if isinstance(e.id, int) and e.id >= 0 else None for e in book.entries]
    uids, _ = fill_ids(numeric, [])
    entries: dict[str, JsonValue] = {}
    for index, (entry, uid) in enumerate(zip(book.entries, uids, strict=True)):
        entries[str(uid)] = _st_entry(entry, int(uid), index)
    return {"entries": entries}


def encode_world_file(book: LoreBook, max_bytes: int) -> bytes:
    """The world info file's bytes: indented, or compact if that is what fits ``max_bytes``."""
    document = world_info_document(book)
    data = encode_json(document, indent=2) + b"\n"
    if len(data) > max_bytes:
        data = encode_json(document)
    if len(data) > max_bytes:
        raise InvalidInput(
            f"That world is {len(data) / limits.MIB:.1f} MiB as a file, over the "
            f"{max_bytes / limits.MIB:.0f} MiB Discord lets a bot send."
        )
    return data


def _st_entry(entry: LoreEntry, uid: int, index: int) -> dict[str, JsonValue]:
    extensions = dict(entry.extensions)
    st: dict[str, JsonValue] = {
        "uid": uid,
        "key": list(entry.keys),
        "keysecondary": list(entry.secondary_keys or ()),
        "comment": entry.comment if entry.comment is not None else (entry.name or ""),
        "content": entry.content,
        "constant": bool(entry.constant),
        "selective": bool(entry.selective),
        "order": entry.insertion_order,
        "disable": not entry.enabled,
    }
    st["addMemo"] = extensions.pop("addMemo", bool(st["comment"]))
    for st_name, ext_name in ST_EXTENSIONS.items():
        if ext_name in extensions:
            st[st_name] = extensions.pop(ext_name)
        elif st_name in ST_DEFAULTS:
            st[st_name] = ST_DEFAULTS[st_name]
    if not isinstance(st.get("position"), int | float) or isinstance(st.get("position"), bool):
        st["position"] = 0 if entry.position == "before_char" else 1
    if entry.case_sensitive is not None:
        st["caseSensitive"] = entry.case_sensitive
    st.setdefault("displayIndex", index)
    for name, value in extensions.items():  # SillyTavern fields kept from an import
        st.setdefault(name, value)
    return st


def _entry(item: object, index: int) -> LoreEntry:
    if not isinstance(item, dict):
        raise InvalidInput(f"Entry {index + 1} of that world file is not an object.")
    wire_data = _from_sillytavern(item) if _is_sillytavern(item) else item
    try:
        wire = WireEntry.model_validate(wire_data)
    except ValidationError as exc:
        raise InvalidInput(f"Entry {index + 1} of that world file: {_first(exc)}.") from None
    fields = wire.model_dump(exclude=set(wire.model_extra or ()))
    extensions = dict(fields.pop("extensions") or {})
    extra = extra_of(wire)
    # chub writes SillyTavern's selectiveLogic beside the entry's fields: SillyTavern and the
    # scan read it from extensions.
    if "selectiveLogic" in extra and "selectiveLogic" not in extensions:
        extensions["selectiveLogic"] = extra["selectiveLogic"]
    try:
        return LoreEntry.model_validate({**fields, "extensions": extensions, "extra_fields": extra})
    except ValidationError as exc:
        raise InvalidInput(f"Entry {index + 1} of that world file: {_first(exc)}.") from None


def _is_sillytavern(item: dict[str, Any]) -> bool:
    return "keys" not in item and any(marker in item for marker in _ST_MARKERS)


def _from_sillytavern(item: dict[str, Any]) -> dict[str, Any]:
    """A SillyTavern world entry as a card entry, the way SillyTavern itself converts it."""
    extensions = {ext: item[st] for st, ext in ST_EXTENSIONS.items() if st in item}
    # Fields SillyTavern added after this was written ride along under their own names.
    extensions.update((k, v) for k, v in item.items() if k not in _ST_KNOWN)
    if "addMemo" in item:
        extensions["addMemo"] = item["addMemo"]
    position = item.get("position", 0)
    wire: dict[str, Any] = {
        "id": item.get("uid"),
        "keys": item.get("key") or [],
        "secondary_keys": item.get("keysecondary") or [],
        "comment": item.get("comment") or "",
        "content": item.get("content") or "",
        "constant": bool(item.get("constant", False)),
        "selective": bool(item.get("selective", False)),
        "insertion_order": item.get("order", 100),
        "enabled": not item.get("disable", False),
        "position": "before_char" if position == 0 else "after_char",
        "extensions": extensions,
    }
    return wire


def _check_counts(items: list[Any]) -> None:
    """Entry and key counts, before a single entry is built."""
    if len(items) > limits.MAX_LORE_ENTRIES:
        raise InvalidInput(
            f"That world file has {len(items):,} entries; the limit is {limits.MAX_LORE_ENTRIES:,}."
        )
    for index, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            continue  # said precisely when the entry is read
        for field in ("key", "keys", "keysecondary", "secondary_keys"):
            keys = item.get(field)
            if isinstance(keys, list) and len(keys) > limits.MAX_LIST_ITEMS:
                raise InvalidInput(
                    f"Entry {index} of that world file has {len(keys):,} keys; the limit is "
                    f"{limits.MAX_LIST_ITEMS:,}."
                )


def _check_texts(book: LoreBook) -> None:
    total = 0
    for index, entry in enumerate(book.entries, start=1):
        texts = [entry.content, entry.comment or "", entry.name or ""]
        texts += [*entry.keys, *(entry.secondary_keys or ())]
        for text in texts:
            if len(text) > limits.MAX_TEXT_CHARS:
                raise InvalidInput(
                    f"Entry {index} of that world file holds a text of {len(text):,} "
                    f"characters; the limit is {limits.MAX_TEXT_CHARS:,}."
                )
            total += len(text)
    if total > limits.MAX_TOTAL_CHARS:
        raise InvalidInput(
            f"That world file holds {total:,} characters of text; the limit is "
            f"{limits.MAX_TOTAL_CHARS:,}."
        )


def _decode(data: bytes) -> object:
    utf16 = data.startswith(_UTF16_BOMS)
    if not utf16:
        _check_containers(data)
    try:
        text = data.decode("utf-16" if utf16 else "utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("That world file is not UTF-8 text.") from None
    if utf16:
        _check_containers(text.encode("utf-8", "surrogatepass"))
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"That world file is not valid JSON ({exc.msg} at line {exc.lineno}, "
            f"column {exc.colno})."
        ) from None
    except (RecursionError, ValueError):
        raise InvalidInput("That world file is not JSON Galatea can read.") from None
    if json_depth(value) > limits.MAX_JSON_DEPTH:
        raise InvalidInput("That world file is nested too deeply.")
    return value


def _check_containers(utf8: bytes) -> None:
    """Counted before parsing: 10 MiB of ``[],`` would cost over 500 MB as Python objects,
    where a world at the entry and key limits needs a few lists and objects per entry."""
    if count_containers(utf8) > MAX_WORLD_CONTAINERS:
        raise InvalidInput(
            "That world file holds too many lists and objects for its entries (more than "
            f"{MAX_WORLD_CONTAINERS:,})."
        )


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _first(exc: ValidationError) -> str:
    error = exc.errors(include_url=False, include_input=False, include_context=False)[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where or 'a field'} {error['msg'].removeprefix('Value error, ').lower()}"
