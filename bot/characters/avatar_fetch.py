"""Avatars from web links, fetched the careful way.

A link someone pastes into a slash command makes the bot's host open a connection, so it must
not become a way into the host's own network (SSRF): only http(s); the host is resolved here and
refused if any address is not public; the connection goes to the address that was checked (a
name that resolves differently a moment later, "DNS rebinding", changes nothing); each redirect
is checked the same way; the whole fetch has a time limit and the body a size limit. Callers run
:func:`bot.common.images.normalize_avatar` on the bytes, in a thread (``AvatarFetcher.fetch_png``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from bot.common.bounded_read import BodyTooLarge, read_at_most
from bot.common.images import MAX_AVATAR_BYTES, normalize_avatar
from bot.errors import InvalidInput

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
AddressPolicy = Callable[[IPAddress], bool]
"""Whether the bot may connect to an address; the default allows public addresses only."""

FETCH_TIMEOUT = 10.0
MAX_REDIRECTS = 3
REDIRECTS = frozenset({301, 302, 303, 307, 308})
# NAT64 (RFC 6052) carries an IPv4 address in its last 32 bits.
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
HEADERS = {"User-Agent": "Galatea (avatar fetch)", "Accept": "image/*"}


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address inside an IPv4-mapped, 6to4, Teredo or NAT64 IPv6 address."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # the client address; the server part is the relay's own
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def public_only(ip: IPAddress) -> bool:
    """The default policy: a globally routable unicast address, in whatever form it is written.

    ``is_global`` alone lets multicast, deprecated site-local and 6to4 forms of private
    addresses through, hence the extra checks.
    """
    embedded = _embedded_ipv4(ip)
    if embedded is not None and not public_only(embedded):
        return False
    site_local = isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local
    return ip.is_global and not (
        ip.is_multicast
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_unspecified
        or site_local
    )


class _PinnedResolver(AbstractResolver):
    """Hands aiohttp only the addresses that were checked, for the host they were checked for."""

    def __init__(self) -> None:
        self.pinned: dict[str, list[ResolveResult]] = {}

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        try:
            return self.pinned[host]
        except KeyError:
            raise OSError(f"{host} was not checked") from None

    async def close(self) -> None:
        return None


def _refuse(host: str, reason: str, message: str) -> InvalidInput:
    # The host only: a full link may hold tokens in its query string.
    log.info("Avatar link refused (host %s): %s", host or "?", reason)
    return InvalidInput(message)


def _parse(link: str | URL) -> URL:
    try:
        url = link if isinstance(link, URL) else URL(link.strip())
    except (ValueError, TypeError):
        raise _refuse("", "unparsable", "That does not look like a web link.") from None
    if url.scheme not in ("http", "https"):
        raise _refuse(
            url.raw_host or "",
            f"scheme {url.scheme[:20]!r}",
            "Avatar links must start with http:// or https://.",
        )
    if not url.raw_host:
        raise _refuse("", "no host", "That does not look like a web link.")
    if url.raw_user or url.raw_password:
        raise _refuse(
            url.raw_host,
            "credentials in the link",
            "Avatar links cannot carry a user name or password; link to a public image.",
        )
    return url


async def _checked_addresses(url: URL, policy: AddressPolicy) -> list[ResolveResult]:
    """Resolve the link's host and refuse it unless every address passes the policy."""
    host, port = url.raw_host or "", url.port or 0
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise _refuse(
            host, "does not resolve", f"Galatea could not find the site {host}; check the link."
        ) from None
    results: list[ResolveResult] = []
    for family, _, proto, _, sockaddr in infos:
        address = str(sockaddr[0])
        if not policy(ipaddress.ip_address(address)):
            raise _refuse(
                host,
                f"resolves to a refused address {address}",
                "That link points to a private or local address; Galatea only fetches avatars "
                "from public websites.",
            )
        results.append(
            ResolveResult(
                hostname=host,
                host=address,
                port=int(sockaddr[1]),
                family=family,
                proto=proto,
                flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
            )
        )
    if not results:
        raise _refuse(host, "no addresses", f"Galatea could not find the site {host}.")
    return results


def _mb(limit: int) -> str:
    return f"{limit / 1048576:g} MB"


async def _read_image(response: aiohttp.ClientResponse, host: str, max_bytes: int) -> bytes:
    if response.status != 200:
        raise _refuse(
            host,
            f"HTTP {response.status}",
            f"That site answered with an error (HTTP {response.status}); check that the link "
            "still works.",
        )
    if not response.content_type.startswith("image/"):
        kind = response.content_type[:60]
        raise _refuse(
            host,
            f"content type {kind!r}",
            f"That link does not lead to an image (the site says it is {kind}); link to a "
            "PNG, JPEG, GIF or WebP file itself.",
        )
    too_large = f"The image at that link is larger than {_mb(max_bytes)}; pick a smaller one."
    try:
        return await read_at_most(response, max_bytes)
    except BodyTooLarge as over:
        # The length header, or the stream itself when the header was absent or wrong.
        said = f"Content-Length {over.declared}" if over.declared is not None else None
        raise _refuse(host, said or f"over {max_bytes} bytes streamed", too_large) from None


async def _follow(
    session: aiohttp.ClientSession,
    resolver: _PinnedResolver,
    url: URL,
    policy: AddressPolicy,
    max_bytes: int,
    max_redirects: int,
) -> bytes:
    for _ in range(max_redirects + 1):
        host = url.raw_host or ""
        resolver.pinned = {host: await _checked_addresses(url, policy)}
        async with session.get(url, allow_redirects=False, headers=HEADERS) as response:
            location = response.headers.get("Location")
            if response.status not in REDIRECTS or not location:
                return await _read_image(response, host, max_bytes)
        try:
            url = _parse(url.join(URL(location)))
        except ValueError:
            raise _refuse(host, "bad redirect", "That link redirects somewhere odd.") from None
    raise _refuse(
        url.raw_host or "",
        "too many redirects",
        "That link redirects too many times; link to the image itself.",
    )


async def fetch_avatar(
    link: str,
    *,
    policy: AddressPolicy = public_only,
    max_bytes: int = MAX_AVATAR_BYTES,
    timeout: float = FETCH_TIMEOUT,  # noqa: ASYNC109 - the fetch's own limit, DNS included
    max_redirects: int = MAX_REDIRECTS,
) -> bytes:
    """The raw bytes of the image at ``link``, or InvalidInput saying why not.

    Nothing is connected to before the host's addresses pass ``policy``.
    """
    url = _parse(link)
    resolver = _PinnedResolver()
    # No DNS cache, no pooled connections, no proxy from the environment: every connection
    # goes to an address checked for this hop.
    connector = aiohttp.TCPConnector(resolver=resolver, use_dns_cache=False, force_close=True)
    try:
        async with (
            asyncio.timeout(timeout),
            aiohttp.ClientSession(connector=connector, trust_env=False) as session,
        ):
            return await _follow(session, resolver, url, policy, max_bytes, max_redirects)
    except TimeoutError:
        raise _refuse(
            url.raw_host or "",
            f"no answer within {timeout:g} s",
            "That site took too long to answer; try again, or upload the image instead.",
        ) from None
    except aiohttp.ClientError as exc:
        raise _refuse(
            url.raw_host or "",
            type(exc).__name__,
            "Galatea could not download from that site; check the link, or upload the image "
            "instead.",
        ) from None
    finally:
        await connector.close()


@dataclass(frozen=True)
class AvatarFetcher:
    """fetch_avatar with its limits fixed: what the core hands the cogs (tests swap it)."""

    policy: AddressPolicy = public_only
    max_bytes: int = MAX_AVATAR_BYTES
    timeout: float = FETCH_TIMEOUT

    async def fetch(self, link: str) -> bytes:
        return await fetch_avatar(
            link, policy=self.policy, max_bytes=self.max_bytes, timeout=self.timeout
        )

    async def fetch_png(self, link: str) -> bytes:
        """The image at ``link`` as the avatar Galatea stores (see bot/common/images.py)."""
        return await asyncio.to_thread(normalize_avatar, await self.fetch(link))
