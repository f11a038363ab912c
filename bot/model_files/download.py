"""``galatea download``: one known-good Pygmalion file from the Hugging Face Hub into models/.

huggingface_hub answers the question only the Hub can (where the file is, its size and, for
LFS files, its SHA-256); the transfer is ours, because huggingface_hub 1.x and later delete a
partial download instead of resuming it, and a 4-8 GB file over a home connection must
survive an interruption. The partial file is kept as ``<name>.part`` and continued with an
HTTP Range request; the SHA-256 is checked before the file takes its final name.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from bot.errors import GalateaError, InvalidInput

log = logging.getLogger(__name__)

CHUNK = 1 << 20
TIMEOUT = 60.0  # seconds without a byte before a download counts as stalled
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class KnownModel:
    """A file we know loads and plays well (names and sizes as the Hub lists them)."""

    key: str
    title: str
    repo: str
    filename: str
    size: str
    context: int
    prompt_format: str
    model_type: str | None = None  # for GGML files, which do not name their architecture


CATALOGUE: tuple[KnownModel, ...] = (
    KnownModel(
        "pygmalion-2-7b",
        "Pygmalion-2 7B (GGUF, Q4_K_M)",
        "TheBloke/Pygmalion-2-7B-GGUF",
        "pygmalion-2-7b.Q4_K_M.gguf",
        "4.08 GB",
        4096,
        "metharme",
    ),
    KnownModel(
        "pygmalion-2-13b",
        "Pygmalion-2 13B (GGUF, Q4_K_M)",
        "TheBloke/Pygmalion-2-13B-GGUF",
        "pygmalion-2-13b.Q4_K_M.gguf",
        "7.87 GB",
        4096,
        "metharme",
    ),
    KnownModel(
        "mythalion-13b",
        "Mythalion 13B (GGUF, Q4_K_M)",
        "TheBloke/Mythalion-13B-GGUF",
        "mythalion-13b.Q4_K_M.gguf",
        "7.87 GB",
        4096,
        "metharme",
    ),
    KnownModel(
        "pygmalion-7b",
        "Pygmalion 7B (GGUF, Q4_K_M)",
        "imi1/Pygmalion-1-7B-GGUF",
        "pygmalion-1-Q4_K_M.gguf",
        "4.08 GB",
        2048,
        "pygmalion",
    ),
    KnownModel(
        "pygmalion-6b",
        "Pygmalion 6B (GGML GPT-J, q4_0; ctransformers, CPU only)",
        "alpindale/pygmalion-6b-ggml",
        "pygmalion-6b-v3-q4_0.bin",
        "3.79 GB",
        2048,
        "pygmalion",
        model_type="gptj",
    ),
)


class DownloadError(GalateaError):
    """The download could not be done; ``user_message`` says why and what to try."""


@dataclass(frozen=True, slots=True)
class Remote:
    """Where the file is and what it must be."""

    url: str
    size: int | None
    sha256: str | None  # the LFS object id: the file's SHA-256 (None for small git files)
    commit: str | None


def find_known(key: str) -> KnownModel:
    for model in CATALOGUE:
        if model.key == key.lower():
            return model
    names = ", ".join(m.key for m in CATALOGUE)
    raise InvalidInput(f"There is no known model {key!r}: choose one of {names}, or give --repo.")


def catalogue_text() -> str:
    lines = ["Known-good models (galatea download NAME):"]
    for model in CATALOGUE:
        lines.append(f"  {model.key:<16} {model.title}, {model.size}, context {model.context}")
        lines.append(f"  {'':<16} {model.repo} / {model.filename}")
    lines.append("Or any file: galatea download --repo OWNER/NAME --file FILE.gguf")
    return "\n".join(lines)


def locate(repo: str, filename: str, *, revision: str, endpoint: str) -> Remote:
    """Ask the Hub (a HEAD request) where the file is, how large it is and its checksum."""
    try:
        from huggingface_hub import get_hf_file_metadata, hf_hub_url
    except ImportError as exc:  # a declared dependency; only a broken install lacks it
        raise DownloadError(
            "galatea download needs the huggingface_hub package: run .venv/bin/pip install "
            "-e . in the Galatea folder."
        ) from exc
    url = hf_hub_url(repo, filename, revision=revision, endpoint=endpoint)
    try:
        meta = get_hf_file_metadata(url, timeout=30)
    except Exception as exc:  # huggingface_hub's errors differ by version (requests/httpx)
        raise DownloadError(_explain(exc, repo, filename, endpoint)) from exc
    etag = (meta.etag or "").strip('"').lower()
    return Remote(
        url=meta.location or url,
        size=meta.size,
        sha256=etag if _SHA256.match(etag) else None,
        commit=meta.commit_hash,
    )


def _explain(exc: Exception, repo: str, filename: str, endpoint: str) -> str:
    status = getattr(getattr(exc, "response", None), "status_code", None)
    kind = type(exc).__name__
    if status in (401, 403) or "GatedRepo" in kind:
        return f"{repo} needs a Hugging Face login: set HF_TOKEN to a token with access."
    if status == 404 or "NotFound" in kind:
        return f"The Hugging Face repo {repo} has no file {filename} (check both names)."
    return f"Could not reach {endpoint} to find {repo}/{filename}: {kind}: {exc}".strip()


def download(
    repo: str,
    filename: str,
    *,
    dest_dir: Path,
    endpoint: str = "https://huggingface.co",
    revision: str = "main",
    progress: bool = True,
    headers: dict[str, str] | None = None,
) -> Path:
    """Download ``filename`` from ``repo`` into ``dest_dir``; resumes a ``.part`` file left by
    an interrupted run and checks the SHA-256 when the Hub gives one. Returns the file."""
    if "/" in filename.replace("\\", "/") or filename.startswith("."):
        raise InvalidInput("Give the file's name inside the repo, without folders.")
    remote = locate(repo, filename, revision=revision, endpoint=endpoint)
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / filename
    if target.is_file() and remote.size is not None and target.stat().st_size == remote.size:
        log.info("%s is already complete", target)
        return target
    partial = dest_dir / f"{filename}.part"
    digest = hashlib.sha256()
    done = partial.stat().st_size if partial.is_file() else 0
    if remote.size is not None and done > remote.size:
        done = 0  # not a prefix of this file: start over
    if done:
        _hash_file(partial, digest)
    with _open_bar(filename, remote.size, done, progress) as bar:
        done, digest = _fetch(remote, partial, done, digest, bar.update, headers or _hub_headers())
    if remote.size is not None and done != remote.size:
        raise DownloadError(
            f"The download stopped at {done} of {remote.size} bytes; run the same command "
            "again to resume it."
        )
    if remote.sha256 is not None and digest.hexdigest() != remote.sha256:
        partial.unlink(missing_ok=True)
        raise DownloadError(
            f"{filename} arrived damaged (its SHA-256 is not the one the Hub lists); the partial "
            "file was removed: run the command again."
        )
    partial.replace(target)
    return target


def _fetch(
    remote: Remote,
    partial: Path,
    done: int,
    digest: Any,
    advance: Callable[[int], object],
    headers: dict[str, str],
) -> tuple[int, Any]:
    """GET the rest of the file (a Range request when resuming); returns the bytes on disk and
    their digest (a new one when the server sent the whole file again)."""
    if remote.size is not None and done == remote.size:
        return done, digest
    request = urllib.request.Request(remote.url, headers=dict(headers))
    if done:
        request.add_header("Range", f"bytes={done}-")
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT)
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"The Hub refused the download: HTTP {exc.code} {exc.reason}.") from exc
    except OSError as exc:
        raise DownloadError(f"The download could not start: {exc}.") from exc
    with response:
        mode = "ab"
        if done and response.status != 206:  # the server ignored the Range: start over
            done, mode = 0, "wb"
            digest = hashlib.sha256()
        with partial.open(mode) as out:
            try:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    advance(len(chunk))
            except (OSError, http.client.HTTPException) as exc:  # a dropped connection
                log.warning("The download was interrupted at %d bytes: %r", done, exc)
    return done, digest


def _hash_file(path: Path, digest: Any) -> None:
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)


def _hub_headers() -> dict[str, str]:
    """huggingface_hub's headers: its user agent, and HF_TOKEN when set (gated repos)."""
    from huggingface_hub.utils import build_hf_headers

    return dict(build_hf_headers())


class _NoBar:
    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, _count: int) -> None:
        return None


def _open_bar(name: str, total: int | None, initial: int, show: bool) -> Any:
    if not show:
        return _NoBar()
    from tqdm.auto import tqdm  # a dependency of huggingface_hub

    stream: IO[str] = sys.stderr
    return tqdm(
        total=total,
        initial=initial,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=name,
        file=stream,
        mininterval=0.5,
    )
