"""Errors that carry the sentence a user should read.

Every refusal or failure a person can act on is a GalateaError; the Discord layer shows its
``user_message`` as an ephemeral reply, the console prints it. Anything else is a bug: it is
logged with a traceback and the user gets a short apology with an error id.
"""

from __future__ import annotations

NAME_SHOWN_MAX = 100  # characters of a typed name an answer repeats


def shown(name: str, limit: int = NAME_SHOWN_MAX) -> str:
    """A name someone typed, as an answer quotes it: stripped, cut with a visible "…" past
    ``limit`` (so a long typed value never pushes an answer past Discord's 2,000 characters).
    Any text cut to a length with "…" goes through here (embeds too: cogs/embeds.py)."""
    name = name.strip()
    return name if len(name) <= limit else name[: max(0, limit - 1)].rstrip() + "…"


class GalateaError(Exception):
    """Base class: ``user_message`` is safe to show to the person who caused it."""

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message


class InvalidInput(GalateaError):
    """The user gave something we cannot accept (too long, malformed, unknown)."""


class NotFound(GalateaError):
    """A character, session or message that the user named does not exist."""


class AlreadyExists(GalateaError):
    """A unique name is taken."""


class PermissionDenied(GalateaError):
    """The caller may not do this here."""


class ConfigError(GalateaError):
    """A setting is missing or invalid; ``user_message`` names the variable."""


class InferenceError(GalateaError):
    """The model could not produce a reply."""

    # What the operator needs (the server's own message, its address): logged, never shown.
    detail: str = ""


class BackendUnavailable(InferenceError):
    """The backend refused, is unreachable, or failed to load."""


class GenerationTimeout(InferenceError):
    """The reply took longer than the configured limit."""


class Busy(InferenceError):
    """Too much is queued already; the user should try again shortly."""


class StorageUnavailable(GalateaError):
    """The database cannot be read or written right now: locked past the busy wait, a full
    disk, a read-only file, a PostgreSQL server that is down. Usually passes by itself.

    ``user_message`` is for members; ``cause`` is the operator's one-line reason (no user text,
    no password).
    """

    USER_MESSAGE = (
        "I can't reach my storage right now, so that wasn't saved. Please try again in a minute."
    )

    def __init__(self, cause: str, user_message: str = USER_MESSAGE) -> None:
        super().__init__(user_message)
        self.cause = cause

    def __str__(self) -> str:
        return self.cause
