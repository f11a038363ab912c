"""An HTTP body read with a ceiling: the one way Galatea reads a body a stranger controls."""

from __future__ import annotations

import aiohttp

CHUNK = 64 * 1024


class BodyTooLarge(Exception):
    """The body is over the limit: ``declared`` is its Content-Length when that said so
    (nothing was read), None when the stream ran past the limit (the header was absent or
    wrong)."""

    def __init__(self, declared: int | None) -> None:
        super().__init__(declared)
        self.declared = declared


async def read_at_most(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The response body; BodyTooLarge as soon as it is known to be over ``limit`` bytes,
    before more of it is read."""
    declared = response.content_length
    if declared is not None and declared > limit:
        raise BodyTooLarge(declared)
    body = bytearray()
    while chunk := await response.content.read(CHUNK):
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge(None)
    return bytes(body)
