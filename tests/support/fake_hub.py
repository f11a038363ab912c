"""A local stand-in for the Hugging Face Hub's file routes, on 127.0.0.1, in a thread.

It answers as the Hub answers for a file stored with Git LFS (what huggingface_hub's
``get_hf_file_metadata`` reads, see its file_download.py): ``HEAD /{repo}/resolve/{revision}/
{file}`` is a redirect to the storage URL with ``X-Repo-Commit``, ``X-Linked-Etag`` (the LFS
object's SHA-256) and ``X-Linked-Size``; the storage URL serves the bytes and honours
``Range: bytes=N-`` with 206 Partial Content. An unknown file is 404 with the Hub's
``X-Error-Code: EntryNotFound``. ``cut_after`` makes the next download stop after that many
bytes (a dropped connection), to test resuming; ``requests`` records what clients asked.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class HubFile:
    data: bytes
    advertised_sha256: str | None = None  # a wrong one, to test the checksum check

    @property
    def sha256(self) -> str:
        return self.advertised_sha256 or hashlib.sha256(self.data).hexdigest()


@dataclass
class FakeHub:
    files: dict[tuple[str, str], HubFile] = field(default_factory=dict)
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)  # method, path, Range
    cut_after: int | None = None
    url: str = ""
    storage_url: str = ""  # another origin, as the Hub's CDN is: clients do not follow there
    _servers: list[ThreadingHTTPServer] = field(default_factory=list)

    def add(self, repo: str, filename: str, data: bytes, **options: str) -> HubFile:
        self.files[(repo, filename)] = hub_file = HubFile(data, **options)
        return hub_file

    def __enter__(self) -> FakeHub:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output clean
                return None

            def do_HEAD(self) -> None:
                hub._answer(self, body=False)

            def do_GET(self) -> None:
                hub._answer(self, body=True)

        for _ in range(2):
            server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self._servers.append(server)
        self.url, self.storage_url = (
            f"http://127.0.0.1:{server.server_address[1]}" for server in self._servers
        )
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()

    def _answer(self, handler: BaseHTTPRequestHandler, *, body: bool) -> None:
        self.requests.append((handler.command, handler.path, handler.headers.get("Range")))
        resolve = re.fullmatch(r"/(.+?/.+?)/resolve/([^/]+)/(.+)", handler.path)
        if resolve:
            repo, _revision, filename = resolve.groups()
            hub_file = self.files.get((repo, filename))
            if hub_file is None:
                handler.send_response(404)
                handler.send_header("X-Error-Code", "EntryNotFound")
                handler.send_header("X-Error-Message", "Entry not found")
                handler.send_header("Content-Length", "0")
                handler.end_headers()
                return
            handler.send_response(302)
            handler.send_header("Location", f"{self.storage_url}/lfs/{repo}/{filename}")
            handler.send_header("X-Repo-Commit", COMMIT)
            handler.send_header("ETag", '"a1b2c3"')  # the pointer file's git oid
            handler.send_header("X-Linked-Etag", f'"{hub_file.sha256}"')
            handler.send_header("X-Linked-Size", str(len(hub_file.data)))
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        storage = re.fullmatch(r"/lfs/(.+?/.+?)/(.+)", handler.path)
        hub_file = self.files.get(storage.groups()) if storage else None  # type: ignore[arg-type]
        if hub_file is None:
            handler.send_response(404)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        self._send_bytes(handler, hub_file.data, body=body)

    def _send_bytes(self, handler: BaseHTTPRequestHandler, data: bytes, *, body: bool) -> None:
        start = 0
        wanted = re.fullmatch(r"bytes=(\d+)-", handler.headers.get("Range") or "")
        if wanted:
            start = int(wanted.group(1))
            handler.send_response(206)
            handler.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            handler.send_response(200)
        handler.send_header("Content-Length", str(len(data) - start))
        handler.end_headers()
        if not body:
            return
        part = data[start:]
        if self.cut_after is not None:
            part, self.cut_after = part[: self.cut_after], None
            handler.wfile.write(part)
            handler.close_connection = True
            return
        handler.wfile.write(part)
