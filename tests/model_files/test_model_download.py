"""`galatea download` against a local stand-in for the Hub: progress, resume, checksum."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from bot.errors import InvalidInput
from bot.model_files.download import CATALOGUE, DownloadError, download, find_known
from tests.support.fake_hub import FakeHub
from tests.test_main import run_main

REPO = "TheBloke/Pygmalion-2-7B-GGUF"
FILE = "pygmalion-2-7b.Q4_K_M.gguf"
DATA = bytes(range(256)) * 4096  # 1 MiB: several chunks, so a cut lands mid-file


def test_a_file_downloads_with_its_checksum_checked(tmp_path: Path) -> None:
    with FakeHub() as hub:
        hub.add(REPO, FILE, DATA)
        path = download(REPO, FILE, dest_dir=tmp_path, endpoint=hub.url, progress=False)
    assert path == tmp_path / FILE
    assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(DATA).digest()
    assert not (tmp_path / f"{FILE}.part").exists()
    assert hub.requests[0][0] == "HEAD" and hub.requests[0][1] == f"/{REPO}/resolve/main/{FILE}"


def test_an_interrupted_download_resumes_where_it_stopped(tmp_path: Path) -> None:
    with FakeHub() as hub:
        hub.add(REPO, FILE, DATA)
        hub.cut_after = 300_000
        with pytest.raises(DownloadError, match="run the same command again to resume"):
            download(REPO, FILE, dest_dir=tmp_path, endpoint=hub.url, progress=False)
        partial = tmp_path / f"{FILE}.part"
        assert partial.stat().st_size == 300_000
        path = download(REPO, FILE, dest_dir=tmp_path, endpoint=hub.url, progress=False)
    assert path.read_bytes() == DATA
    ranges = [rng for method, _, rng in hub.requests if method == "GET"]
    assert ranges == [None, "bytes=300000-"]


def test_a_damaged_download_is_refused_and_removed(tmp_path: Path) -> None:
    with FakeHub() as hub:
        hub.add(REPO, FILE, DATA, advertised_sha256="0" * 64)
        with pytest.raises(DownloadError, match="arrived damaged"):
            download(REPO, FILE, dest_dir=tmp_path, endpoint=hub.url, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_a_file_the_repo_does_not_have_is_named_in_one_sentence(tmp_path: Path) -> None:
    with FakeHub() as hub, pytest.raises(DownloadError) as refused:
        download(REPO, "nope.gguf", dest_dir=tmp_path, endpoint=hub.url, progress=False)
    assert refused.value.user_message == (
        f"The Hugging Face repo {REPO} has no file nope.gguf (check both names)."
    )


def test_unknown_model_names_list_the_known_ones() -> None:
    with pytest.raises(InvalidInput, match="pygmalion-2-7b, pygmalion-2-13b, mythalion-13b"):
        find_known("pygmalion-99b")


def test_the_catalogue_names_real_gguf_and_ggml_files() -> None:
    keys = {model.key for model in CATALOGUE}
    assert keys == {
        "pygmalion-2-7b",
        "pygmalion-2-13b",
        "mythalion-13b",
        "pygmalion-7b",
        "pygmalion-6b",
    }
    for model in CATALOGUE:
        assert model.filename.endswith((".gguf", ".bin")) and "/" in model.repo
    assert find_known("pygmalion-6b").model_type == "gptj"  # GGML does not name its type


def test_download_command_shows_progress_and_prints_the_model_line(tmp_path: Path) -> None:
    with FakeHub() as hub:
        hub.add(REPO, FILE, DATA)
        result = run_main("download", "pygmalion-2-7b", env={"HF_ENDPOINT": hub.url}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "MODEL=models/pygmalion-2-7b.Q4_K_M.gguf" in result.stdout.splitlines()
    assert "100%" in result.stderr  # the progress bar, on stderr
    assert (tmp_path / "models" / FILE).read_bytes() == DATA


def test_download_without_a_name_lists_the_catalogue(tmp_path: Path) -> None:
    result = run_main("download", cwd=tmp_path)
    assert result.returncode == 0
    assert "TheBloke/Mythalion-13B-GGUF" in result.stdout
