"""Fetching avatars from links: a real aiohttp server on 127.0.0.1 plays the web site."""

from __future__ import annotations

import asyncio
import io
import ipaddress
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from PIL import Image

from bot.characters.avatar_fetch import IPAddress, fetch_avatar, public_only
from bot.common.images import normalize_avatar
from bot.errors import InvalidInput

LOOPBACK = ipaddress.ip_address("127.0.0.1")
PRIVATE = "private or local address"


def loopback_or_public(ip: IPAddress) -> bool:
    """The tests' policy: the default, plus the test server's own address."""
    return ip == LOOPBACK or public_only(ip)


def png(size: int = 32) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), "purple").save(out, format="PNG")
    return out.getvalue()


@dataclass
class ImageSite:
    """What the site serves, and every path it was asked for."""

    port: int
    image: bytes
    seen: list[str] = field(default_factory=list)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


@asynccontextmanager
async def image_site() -> AsyncIterator[ImageSite]:
    """A small web site on 127.0.0.1: an image, redirects, a slow, a huge and a wrong page."""
    site = ImageSite(port=0, image=png())

    async def avatar(_: web.Request) -> web.Response:
        return web.Response(body=site.image, content_type="image/png")

    async def hop(_: web.Request) -> web.Response:
        raise web.HTTPFound("/avatar.png")  # relative, as many sites send it

    async def to_metadata(_: web.Request) -> web.Response:
        raise web.HTTPFound("http://169.254.169.254/latest/meta-data/")

    async def to_localhost_name(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"http://localhost:{site.port}/avatar.png")

    async def loop(_: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    async def huge(_: web.Request) -> web.Response:
        return web.Response(body=b"\0" * 50_000, content_type="image/png")

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "image/png"})
        response.enable_chunked_encoding()  # no Content-Length: only reading tells the size
        await response.prepare(request)
        for _ in range(20_000):  # about 80 MB: far past any limit, bounded all the same
            await response.write(b"\0" * 4096)
        return response

    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(body=site.image, content_type="image/png")

    async def page(_: web.Request) -> web.Response:
        return web.Response(text="<html>a gallery</html>", content_type="text/html")

    @web.middleware
    async def record(request: web.Request, handler: object) -> web.StreamResponse:
        site.seen.append(request.path_qs)
        return await handler(request)  # type: ignore[operator,no-any-return]

    app = web.Application(middlewares=[record])
    for path, handler in {
        "/avatar.png": avatar,
        "/hop": hop,
        "/to-metadata": to_metadata,
        "/to-localhost": to_localhost_name,
        "/loop": loop,
        "/huge.png": huge,
        "/endless.png": endless,
        "/slow.png": slow,
        "/page": page,
    }.items():
        app.router.add_get(path, handler)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    site.port = runner.addresses[0][1]
    try:
        yield site
    finally:
        await asyncio.wait_for(runner.cleanup(), 10)


@pytest.fixture
async def site() -> AsyncIterator[ImageSite]:
    async with image_site() as running:
        yield running


async def refused(link: str, **options: object) -> str:
    with pytest.raises(InvalidInput) as caught:
        await asyncio.wait_for(fetch_avatar(link, **options), 15)  # type: ignore[arg-type]
    return caught.value.user_message


async def test_an_image_is_fetched_and_becomes_an_avatar(site: ImageSite) -> None:
    data = await fetch_avatar(site.url("/avatar.png"), policy=loopback_or_public)
    assert data == site.image
    assert Image.open(io.BytesIO(normalize_avatar(data))).format == "PNG"
    assert site.seen == ["/avatar.png"]


async def test_redirects_are_followed_and_each_hop_checked(site: ImageSite) -> None:
    assert await fetch_avatar(site.url("/hop"), policy=loopback_or_public) == site.image
    assert site.seen == ["/hop", "/avatar.png"]


async def test_a_redirect_to_the_metadata_address_is_refused(site: ImageSite) -> None:
    message = await refused(site.url("/to-metadata"), policy=loopback_or_public)
    assert PRIVATE in message
    assert site.seen == ["/to-metadata"]


async def test_a_host_name_is_resolved_and_every_address_judged(site: ImageSite) -> None:
    judged: list[IPAddress] = []

    def policy(ip: IPAddress) -> bool:
        judged.append(ip)
        return ip.is_loopback

    assert await fetch_avatar(site.url("/to-localhost"), policy=policy) == site.image
    assert site.seen == ["/to-localhost", "/avatar.png"]
    assert judged[0] == LOOPBACK and len(judged) >= 2  # the first hop, then localhost's
    assert all(ip.is_loopback for ip in judged)


async def test_endless_redirects_stop_after_three(site: ImageSite) -> None:
    message = await refused(site.url("/loop"), policy=loopback_or_public)
    assert "redirects too many times" in message
    assert site.seen == ["/loop"] * 4


async def test_a_large_content_length_is_refused(site: ImageSite) -> None:
    message = await refused(site.url("/huge.png"), policy=loopback_or_public, max_bytes=10_000)
    assert "larger than" in message


async def test_a_stream_without_length_is_cut_off_at_the_limit(site: ImageSite) -> None:
    started = time.monotonic()
    message = await refused(
        site.url("/endless.png"), policy=loopback_or_public, max_bytes=100_000, timeout=10
    )
    assert "larger than 0.095" in message  # the limit, not the time, stopped it
    assert time.monotonic() - started < 5


async def test_a_slow_site_is_given_up_on(site: ImageSite) -> None:
    started = time.monotonic()
    message = await refused(site.url("/slow.png"), policy=loopback_or_public, timeout=0.3)
    assert "took too long" in message
    assert time.monotonic() - started < 2


async def test_a_web_page_is_not_an_image(site: ImageSite) -> None:
    message = await refused(site.url("/page"), policy=loopback_or_public)
    assert "does not lead to an image" in message and "text/html" in message


async def test_a_missing_page_names_the_status(site: ImageSite) -> None:
    assert "HTTP 404" in await refused(site.url("/nothing"), policy=loopback_or_public)


@pytest.mark.parametrize(
    "link",
    [
        "file:///etc/passwd",
        "ftp://127.0.0.1/avatar.png",
        "javascript:alert(1)",
        "data:image/png;base64,iVBORw0KGgo=",
        "gopher://127.0.0.1:70/",
        "//127.0.0.1/avatar.png",
        "avatar.png",
    ],
)
async def test_only_http_links_are_fetched(link: str) -> None:
    message = await refused(link, policy=loopback_or_public)
    assert "http://" in message or "web link" in message


async def test_links_with_credentials_are_refused_before_connecting(site: ImageSite) -> None:
    link = f"http://user:secret@127.0.0.1:{site.port}/avatar.png"
    assert "user name or password" in await refused(link, policy=loopback_or_public)
    assert site.seen == []


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "localhost",
        "[::1]",
        "10.0.0.1",
        "192.168.1.20",
        "172.16.0.1",
        "100.64.0.1",  # shared address space (carrier-grade NAT)
        "169.254.169.254",  # cloud metadata
        "0.0.0.0",
        "0",
        "2130706433",  # 127.0.0.1 as one integer
        "0x7f.1",  # and in hex shorthand
        "017700000001",  # and in octal
        "[::ffff:127.0.0.1]",  # IPv4-mapped
        "[::ffff:a9fe:a9fe]",  # IPv4-mapped metadata
        "[2002:7f00:1::]",  # 6to4 around 127.0.0.1
        "[64:ff9b::a00:1]",  # NAT64 around 10.0.0.1
        "[::]",
        "[fe80::1]",
        "[fc00::1]",
        "[fec0::1]",  # deprecated site-local
        "224.0.0.1",
        "[ff02::1]",
        "240.0.0.1",
        "255.255.255.255",
    ],
)
async def test_the_default_policy_refuses_local_and_private_hosts_without_connecting(
    site: ImageSite, host: str
) -> None:
    message = await refused(f"http://{host}:{site.port}/avatar.png", timeout=5)
    assert PRIVATE in message
    assert site.seen == []


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("93.184.215.14", True),
        ("1.1.1.1", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("::1", False),
        ("10.1.2.3", False),
        ("100.100.100.200", False),  # a cloud metadata address inside 100.64/10
        ("169.254.169.254", False),
        ("fd00:ec2::254", False),  # AWS's IPv6 metadata address
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", False),  # Teredo around 127.0.0.1
        ("2002:5db8:d70e::1", True),  # 6to4 around a public address
        ("::ffff:1.1.1.1", False),  # mapped addresses never appear on the wire
    ],
)
def test_public_only_judges_addresses(address: str, allowed: bool) -> None:
    assert public_only(ipaddress.ip_address(address)) is allowed


async def test_refusals_log_the_host_but_never_the_link(
    site: ImageSite, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.characters.avatar_fetch")
    await refused(f"http://127.0.0.1:{site.port}/avatar.png?token=hunter2")
    await refused(site.url("/page?sig=hunter3"), policy=loopback_or_public)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert logged.count("host 127.0.0.1") == 2
    assert "hunter" not in logged and "/page" not in logged
