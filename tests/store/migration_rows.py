"""The rows a database holds at each revision, for the populated-database migration tests.

``LAYERS[revision]`` lists, table by table, rows written with the columns that exist at that
revision (plain SQL, as that version of Galatea stored them). A database built at revision R
holds the layers of R and of every revision before it; after upgrading to head, every row must
still be there with the same values.

**Adding a migration?** Add a layer for it: rows for any new table, and rows that fill its new
columns (test_every_revision_has_rows fails until you do). If it fills a table from existing
rows, say which in ``DERIVED`` so the count check expects them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

Row = dict[str, Any]
Layer = dict[str, list[Row]]

T0 = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)
T1 = datetime(2026, 11, 21, 8, 30, 15, 123456, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))

# Column types where a plain bound value would not round-trip (SQLAlchemy stores these per
# database: JSON as text on SQLite, datetimes as ISO strings, booleans as 0/1).
TYPES: dict[str, sa.types.TypeEngine[Any]] = {
    **dict.fromkeys(
        ("created_at", "updated_at", "ended_at", "edited_at", "expires_at"),
        sa.DateTime(timezone=True),
    ),
    **dict.fromkeys(
        (
            "allowed_channel_ids",
            "creator_role_ids",
            "session_role_ids",
            "overrides",
            "swipes",
            "alternate_greetings",
            "card_json",
            "settings",
            "data",
            "authors",
        ),
        sa.JSON(),
    ),
    **dict.fromkeys(("active", "nsfw", "deleted", "paused", "enabled"), sa.Boolean()),
    "avatar_png": sa.LargeBinary(),
    "card_image_png": sa.LargeBinary(),
    "discord_tail_ids": sa.JSON(),
}
PRIMARY_KEYS = {
    "guild_configs": "guild_id",
    "app_state": "key",
    "channel_leases": "channel_id",
    "session_memories": "session_id",
}


def _character(id: int, name: str, owner: int, **more: Any) -> Row:
    return {
        "id": id,
        "guild_id": 10,
        "owner_id": owner,
        "name": name,
        "name_key": name.casefold(),
        "persona": f"{name} is kind.\nLikes 'quotes' and \"double quotes\" — and ünïcödé.",
        "greeting": f"*{name} waves* Hello!",
        "scenario": "A quiet tavern.",
        "example_dialogue": "<START>\n{{user}}: Hi\n{{char}}: Hello",
        "avatar_png": None,
        "nsfw": False,
        "created_at": T0,
        "updated_at": T1,
        **more,
    }


def _message(id: int, session: int, role: str, content: str, **more: Any) -> Row:
    human = role == "human"
    return {
        "id": id,
        "session_id": session,
        "discord_message_id": 90_000 + id if human else None,
        "author_id": 100 if human else None,
        "speaker": "Ann" if human else "Aqua",
        "role": role,
        "content": content,
        "created_at": T0,
        "edited_at": None,
        "deleted": False,
        **more,
    }


LAYERS: dict[str, Layer] = {
    # initial schema
    "2b55fdddcaad": {
        "characters": [
            _character(1, "Aqua", 100, avatar_png=PNG, nsfw=True),
            _character(2, "Bram", 101),
        ],
        "guild_configs": [
            {
                "guild_id": 10,
                "allowed_channel_ids": [500, 501, 2**62],
                "creator_role_ids": None,
                "session_role_ids": [7],
                "reply_mode": "mention",
                "ooc_prefix": "((",
                "max_reply_tokens": 180,
                "sampler_preset": "creative",
                "user_cooldown_seconds": 2.5,
                "nsfw_rule": "never",
                "created_at": T0,
                "updated_at": T1,
            }
        ],
        "sessions": [
            {
                "id": 1,
                "guild_id": 10,
                "channel_id": 500,
                "character_id": 1,
                "active": True,
                "started_by": 100,
                "overrides": {"temperature": 0.7},
                "created_at": T0,
                "ended_at": None,
            },
            {
                "id": 2,
                "guild_id": 10,
                "channel_id": 501,
                "character_id": 2,
                "active": False,
                "started_by": None,
                "overrides": {},
                "created_at": T0,
                "ended_at": T1,
            },
        ],
        "messages": [
            _message(1, 1, "human", "Hello, Aqua! 🌊"),
            _message(2, 1, "character", "*splashes* Hi, Ann."),
            _message(3, 2, "human", "Bram, are you there?", edited_at=T1),
            _message(4, 1, "note", "(they met at the fountain)", deleted=True),
        ],
    },
    # swipes and app state
    "a999ff05c84a": {
        "app_state": [{"key": "command_tree_hash", "value": "abc123", "updated_at": T1}],
        "messages": [
            _message(5, 1, "character", "second", swipes=["first", "second"], swipe_index=1),
        ],
    },
    # character cards, lorebooks, session notes
    "42a5fd1d16c5": {
        "characters": [
            _character(
                3,
                "Cass",
                100,
                alternate_greetings=["Hey.", "Yo."],
                system_prompt="Stay in character.",
                post_history_instructions="Be brief.",
                example_mode="always",
                card_json={"spec": "chara_card_v2", "data": {"creator": "x"}},
            )
        ],
        "lorebooks": [
            {
                "id": 1,
                "guild_id": 10,
                "character_id": 3,
                "name": None,
                "name_key": None,
                "settings": {"scan_depth": 4},
                "created_at": T0,
                "updated_at": T1,
            },
            {
                "id": 2,
                "guild_id": 10,
                "character_id": None,
                "name": "Eldoria",
                "name_key": "eldoria",
                "settings": {"token_budget": 300},
                "created_at": T0,
                "updated_at": T1,
            },
        ],
        "lore_entries": [
            {
                "id": 1,
                "book_id": 1,
                "data": {"keys": ["sword"], "content": "A blade."},
                "created_at": T0,
            },
            {
                "id": 2,
                "book_id": 2,
                "data": {"keys": ["city"], "content": "Walls."},
                "created_at": T0,
            },
        ],
        "sessions": [
            {
                "id": 3,
                "guild_id": 10,
                "channel_id": 502,
                "character_id": 3,
                "active": True,
                "started_by": 101,
                "overrides": {},
                "created_at": T1,
                "ended_at": None,
                "world_id": 2,
                "author_note": "Keep it cozy.",
                "author_note_depth": 2,
            }
        ],
        "messages": [_message(6, 3, "human", "Tell me about the city.")],
    },
    # group scenes: cast, personas, talkativeness, pause
    "0dfbd4ffae4c": {
        "characters": [_character(4, "Dune", 102, talkativeness=0.9)],
        "guild_configs": [
            {
                "guild_id": 11,
                "allowed_channel_ids": None,
                "creator_role_ids": None,
                "session_role_ids": None,
                "reply_mode": "all",
                "ooc_prefix": "//",
                "max_reply_tokens": None,
                "sampler_preset": None,
                "user_cooldown_seconds": 0.0,
                "nsfw_rule": "age_restricted",
                "max_characters": 6,
                "replies_per_message": 3,
                "created_at": T0,
                "updated_at": T0,
            }
        ],
        "personas": [
            {
                "id": 1,
                "guild_id": 10,
                "user_id": 100,
                "name": "Ann",
                "description": "A traveller.",
                "created_at": T0,
                "updated_at": T1,
            }
        ],
        "session_characters": [
            {
                "id": 1,
                "session_id": 3,
                "character_id": 4,
                "since_message_id": 6,
                "added_by": 101,
                "created_at": T1,
            }
        ],
        "sessions": [
            {
                "id": 5,
                "guild_id": 10,
                "channel_id": 503,
                "character_id": 4,
                "active": True,
                "started_by": 102,
                "overrides": {},
                "created_at": T1,
                "ended_at": None,
                "paused": True,
            }
        ],
        "messages": [_message(7, 3, "character", "*Dune nods*", character_id=4)],
    },
    # channel leases, each Discord message stored once
    "7efbfda410d8": {
        "channel_leases": [{"channel_id": 502, "holder": "host-1:4242", "expires_at": T1}],
        "messages": [_message(8, 5, "human", "A new line.")],
    },
    # a session's history revision
    "b3c1e0a7d2f4": {
        # No messages go to session 6: the triggers move a session's revision on each one.
        "sessions": [
            {
                "id": 6,
                "guild_id": 11,
                "channel_id": 600,
                "character_id": 4,
                "active": True,
                "started_by": 103,
                "overrides": {},
                "created_at": T1,
                "ended_at": None,
                "history_revision": 41,
            }
        ],
    },
    # who wrote a session's author's note
    "c4d2e8f1a9b3": {
        "sessions": [
            {
                "id": 7,
                "guild_id": 11,
                "channel_id": 601,
                "character_id": 4,
                "active": True,
                "started_by": 103,
                "overrides": {},
                "created_at": T1,
                "ended_at": None,
                "author_note": "Rain all day.",
                "author_note_by": 103,
            }
        ],
    },
    # a character's own card image, kept for export
    "c4d2a9e1f6b3": {
        "characters": [_character(9, "Mira", 103, card_image_png=PNG + b"card")],
    },
    # the Discord messages after the first that show one long reply
    "c7e4a1f9d3b2": {
        "messages": [
            _message(
                9,
                7,
                "character",
                "A long reply, part one.",
                character_id=4,
                discord_message_id=91_009,
                discord_tail_ids=[91_010, 91_011],
            ),
        ],
    },
    # memory: running summaries, pinned facts, the full-text index over the history
    "d5a8c3e1f7b4": {
        "session_memories": [
            {"session_id": 1, "enabled": False, "revision": 3, "updated_at": T1},
        ],
        "memory_summaries": [
            {
                "id": 1,
                "session_id": 3,
                "character_id": 3,
                "text": "Ann asked about the city; Cass said its walls are ünïcödé-old.",
                "covered_until": 6,
                "revision": 2,
                "authors": [101],
                "edited_by": None,
                "updated_at": T1,
            }
        ],
        "memory_pins": [
            {
                "id": 1,
                "session_id": 3,
                "text": "The key is under the oak.",
                "pinned_by": 101,
                "created_at": T0,
            },
        ],
        "messages": [_message(10, 3, "human", "Where did we hide the brass lantern?")],
    },
}


def _cast_of_every_session(rows: Layer) -> Layer:
    return {
        "session_characters": [
            {"session_id": s["id"], "character_id": s["character_id"]} for s in rows["sessions"]
        ]
    }


# Rows a migration makes from the rows already there (when the database started before it).
DERIVED: dict[str, Callable[[Layer], Layer]] = {"0dfbd4ffae4c": _cast_of_every_session}


def rows_at(revisions: list[str]) -> Layer:
    """Every row of the given layers (oldest first), table by table, in insertion order."""
    tables: Layer = {}
    for revision in revisions:
        for table, rows in LAYERS[revision].items():
            tables.setdefault(table, []).extend(rows)
    return tables


def table_of(name: str, columns: list[str]) -> sa.TableClause:
    return sa.table(name, *(sa.column(c, TYPES.get(c, sa.types.NULLTYPE)) for c in columns))
