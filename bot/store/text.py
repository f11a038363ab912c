"""Text as every supported database can hold it."""

from __future__ import annotations


def storable(text: str) -> str:
    """PostgreSQL text cannot contain NUL (SQLite can): drop it wherever text is stored."""
    return text.replace("\x00", "")
