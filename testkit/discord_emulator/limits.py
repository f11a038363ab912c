"""Discord's documented size limits on what a message carries: embeds and uploaded files.

Sources (github.com/discord/discord-api-docs, ``developers/``):
- Resources > Message > Embed Object > "Embed Limits": title 256, description 4096, up to 25
  fields, field.name 256, field.value 1024, footer.text 2048, author.name 256, and the sum of
  those texts across every embed of one message at most 6000. "Leading and trailing whitespace
  characters are not included (they are trimmed automatically)", so lengths are counted on the
  stripped text. "Violating any of these constraints will result in a Bad Request response."
- Resources > Message > "Embed Field Structure": ``name`` and ``value`` are required (no ``?``);
  "Embed Footer Structure" ``text`` and "Embed Author Structure" ``name`` likewise. A value that
  is empty once trimmed counts as missing (what Discord answers: ``BASE_TYPE_REQUIRED``).
- Resources > Message > Create Message: "embeds: up to 10".
- Reference > "Uploading Files": "The file upload size limit applies to each file in a
  request. The default limit is 10 MiB ..., may be higher ... by the server's Boost Tier";
  ``attachment_size_limit`` in an interaction is that maximum.
- Topics > Opcodes and Status Codes > JSON Error Codes: 40005 "Request entity too large. Try
  sending something smaller in size". The HTTP status, 413, is not in the docs' HTTP table: it
  is what Discord answers (HTTP's "Content Too Large") and what discord.py handles as a plain
  ``HTTPException``.

The per-field error codes inside a 50035 body (``BASE_TYPE_MAX_LENGTH``, ``BASE_TYPE_REQUIRED``,
``MAX_EMBED_SIZE_EXCEEDED``) are what Discord sends; the docs do not list them.
"""

from __future__ import annotations

from typing import Any

from testkit.discord_emulator import errors

MAX_EMBEDS = 10
EMBED_TOTAL = 6000
EMBED_FIELDS = 25
TEXT_LIMITS = {"title": 256, "description": 4096}
FIELD_LIMITS = {"name": 256, "value": 1024}
FOOTER_TEXT = 2048
AUTHOR_NAME = 256
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024


def _too_long(path: list[str | int], limit: int) -> errors.ApiError:
    return errors.invalid_field(
        path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length."
    )


def _required(path: list[str | int]) -> errors.ApiError:
    return errors.invalid_field(path, "BASE_TYPE_REQUIRED", "This field is required")


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _checked(path: list[str | int], value: Any, limit: int, *, required: bool) -> int:
    """Length of one embed text after trimming; raises when missing or too long."""
    text = _text(value)
    if required and not text:
        raise _required(path)
    if len(text) > limit:
        raise _too_long(path, limit)
    return len(text)


def check_embeds(embeds: list[dict[str, Any]]) -> None:
    """Every rule of "Embed Limits", and the required values, for one message's embeds."""
    if len(embeds) > MAX_EMBEDS:
        raise _too_long(["embeds"], MAX_EMBEDS)
    total = 0
    for index, embed in enumerate(embeds):
        at: list[str | int] = ["embeds", index]
        for key, limit in TEXT_LIMITS.items():
            total += _checked([*at, key], embed.get(key), limit, required=False)
        fields = embed.get("fields") or []
        if len(fields) > EMBED_FIELDS:
            raise _too_long([*at, "fields"], EMBED_FIELDS)
        for number, item in enumerate(fields):
            for key, limit in FIELD_LIMITS.items():
                path = [*at, "fields", number, key]
                total += _checked(path, item.get(key), limit, required=True)
        if embed.get("footer") is not None:
            path = [*at, "footer", "text"]
            total += _checked(path, embed["footer"].get("text"), FOOTER_TEXT, required=True)
        if embed.get("author") is not None:
            path = [*at, "author", "name"]
            total += _checked(path, embed["author"].get("name"), AUTHOR_NAME, required=True)
    if total > EMBED_TOTAL:
        raise errors.invalid_field(
            ["embeds"],
            "MAX_EMBED_SIZE_EXCEEDED",
            f"Embed size exceeds maximum size of {EMBED_TOTAL}",
        )


def entity_too_large() -> errors.ApiError:
    return errors.ApiError(413, 40005, "Request entity too large")


def check_upload_sizes(sizes: list[int], limit: int) -> None:
    """Reference > Uploading Files: the limit applies to each file of a request."""
    if any(size > limit for size in sizes):
        raise entity_too_large()
