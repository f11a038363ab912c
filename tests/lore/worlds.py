"""World info files as SillyTavern and chub write them, for the tests."""

from __future__ import annotations

import copy
import json
from typing import Any


def st_entry(uid: int, **changes: Any) -> dict[str, Any]:
    """A SillyTavern world entry with every field of its ``newWorldInfoEntryDefinition``."""
    entry: dict[str, Any] = {
        "uid": uid,
        "key": ["castle", "keep"],
        "keysecondary": ["gate"],
        "comment": "The castle",
        "content": "The castle of {{char}} stands on a cliff.",
        "constant": False,
        "vectorized": False,
        "selective": True,
        "selectiveLogic": 3,
        "addMemo": True,
        "order": 100,
        "position": 0,
        "disable": False,
        "excludeRecursion": False,
        "preventRecursion": True,
        "delayUntilRecursion": False,
        "probability": 100,
        "useProbability": True,
        "depth": 4,
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
        "displayIndex": uid,
    }
    entry.update(changes)
    return entry


ST_WORLD: dict[str, Any] = {
    "entries": {
        "0": st_entry(0),
        "1": st_entry(
            1,
            key=["/dra(gon|ke)s?/i"],
            keysecondary=[],
            comment="Dragons",
            content="Dragons breathe fire.",
            selective=False,
            selectiveLogic=0,
            order=50,
            position=4,
            depth=2,
            caseSensitive=True,
            matchWholeWords=True,
            scanDepth=10,
            ignoreBudget=True,  # a field SillyTavern added later: kept all the same
        ),
        "5": st_entry(
            5, key=["moon"], comment="", addMemo=False, content="Two moons.", disable=True
        ),
    }
}

CHUB_LOREBOOK: dict[str, Any] = {
    "name": "Axel",
    "description": "The town of Axel",
    "is_creation": False,
    "scan_depth": 6,
    "token_budget": 400,
    "recursive_scanning": True,
    "extensions": {},
    "entries": [
        {
            "name": "Guild",
            "keys": ["guild", "adventurers"],
            "secondary_keys": [],
            "content": "The Axel guild pays in eris.",
            "enabled": True,
            "insertion_order": 10,
            "case_sensitive": False,
            "priority": 10,
            "id": 1,
            "comment": "Guild",
            "selective": False,
            "constant": False,
            "position": "after_char",
            "extensions": {},
            "probability": 100,
            "selectiveLogic": 0,
        },
        {
            "name": "Lake",
            "keys": ["lake"],
            "secondary_keys": ["night"],
            "content": "The lake glows at night.",
            "enabled": True,
            "insertion_order": 20,
            "id": 2,
            "selective": True,
            "selectiveLogic": 3,
            "extensions": {},
        },
    ],
}


def st_world(**entries: dict[str, Any]) -> dict[str, Any]:
    world = copy.deepcopy(ST_WORLD)
    world["entries"].update(entries)
    return world


def to_bytes(document: object) -> bytes:
    return json.dumps(document).encode()
