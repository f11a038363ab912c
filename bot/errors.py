"""Errors that carry the sentence a user should read.

Every refusal or failure a person can act on is a GalateaError; the Discord layer shows its
``user_message`` as an ephemeral reply, the console prints it. Anything else is a bug: it is
logged with a traceback and the user gets a short apology with an error id.
"""

from __future__ import annotations


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
