"""Text as every supported database can hold it."""

from __future__ import annotations

from typing import Any


def storable(text: str) -> str:
    """PostgreSQL text cannot contain NUL (SQLite can): drop it wherever text is stored."""
    return text.replace("\x00", "")


def storable_parameters(parameters: Any) -> Any:
    """A statement's parameters (a sequence or a mapping) with NUL dropped from every text;
    the same object when there was none (the common case costs one scan, no copy)."""
    if isinstance(parameters, dict):
        if not any(isinstance(v, str) and "\x00" in v for v in parameters.values()):
            return parameters
        return {k: storable(v) if isinstance(v, str) else v for k, v in parameters.items()}
    if isinstance(parameters, list | tuple):
        if not any(isinstance(v, str) and "\x00" in v for v in parameters):
            return parameters
        return type(parameters)(storable(v) if isinstance(v, str) else v for v in parameters)
    return parameters
